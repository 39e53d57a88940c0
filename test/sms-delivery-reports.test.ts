import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { startAfricasTalkingSmsSimulator } from '../src/simulators/africastalking/africastalking-sms.simulator.js';
import { eventually } from './support/eventually.js';
import { freePort, ProcessTracker } from './support/processes.js';
import { startSimulatorsProcess } from './support/simulators.js';
import { ownRedisPrefix, startTestApp, uniquePhone } from './support/test-app.js';

/**
 * Africa's Talking delivery reports (docs.africastalking.com/sms/notifications): a form-urlencoded
 * POST of id, status, phoneNumber, networkCode, failureReason (only on failure) and retryCount to
 * the delivery-report URL of the account. Deni records each on the outbox row whose
 * provider_message_id is the report's id (docs/queues.md, "Delivery reports").
 */
const fixture = (name: string) => readFileSync(join(process.cwd(), 'test/fixtures/providers', name), 'utf8');
const SECRET = 'at-delivery-report-secret-0123456789';
const ROUTE = '/api/sms/delivery-reports/africastalking';

interface Row {
  status: string;
  delivery_status: string | null;
  delivery_failure_reason: string | null;
  delivery_retry_count: number | null;
  delivery_network_code: string | null;
  last_error: string | null;
  updated_at: Date;
}
const rowOf = (db: DataSource, id: string) =>
  db
    .query<Row[]>(
      `SELECT status, delivery_status, delivery_failure_reason, delivery_retry_count, delivery_network_code,
              last_error, updated_at FROM notifications WHERE id = $1`,
      [id],
    )
    .then((r) => r[0]);

/** An outbox row as the sender leaves it once Africa's Talking took the message. */
async function sentRow(db: DataSource, providerMessageId: string): Promise<string> {
  const [{ id }] = await db.query<{ id: string }[]>(
    `INSERT INTO notifications (phone_number, template, language, body, status, attempts, provider, provider_message_id, sent_at)
     VALUES ($1, 'pin.changed', 'en', 'Deni: your PIN was changed.', 'sent', 1, 'africastalking', $2, now())
     RETURNING id`,
    [uniquePhone(), providerMessageId],
  );
  return id;
}

describe("Deni's delivery-report route for Africa's Talking", () => {
  let app: NestFastifyApplication;
  let db: DataSource;

  beforeAll(async () => {
    ({ app } = await startTestApp({
      AT_DELIVERY_REPORT_SECRET: SECRET,
      AT_DELIVERY_REPORT_ALLOWED_IPS: '127.0.0.1/32',
    }));
    db = app.get(DataSource);
  });
  afterAll(() => app?.close());

  const post = (body: string, query = `?secret=${SECRET}`, remoteAddress?: string) =>
    app.inject({
      method: 'POST',
      url: `${ROUTE}${query}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: body,
      ...(remoteAddress ? { remoteAddress } : {}),
    });

  it('records the published Failed report (its exact bytes) on the row it names: failed, with the reason', async () => {
    const body = fixture('at-sms-delivery-report-failed.txt');
    const id = await sentRow(db, new URLSearchParams(body).get('id')!);
    const res = await post(body);
    expect(res.statusCode).toBe(200);
    expect(await rowOf(db, id)).toMatchObject({
      status: 'failed',
      delivery_status: 'Failed',
      delivery_failure_reason: 'DoNotDisturbRejection',
      delivery_retry_count: 0,
      delivery_network_code: '63902',
    });
  });

  it('marks a Success report delivered, and the same report twice changes nothing', async () => {
    const messageId = `ATXid_${uniquePhone()}`;
    const id = await sentRow(db, messageId);
    const body = new URLSearchParams({
      id: messageId,
      status: 'Success',
      phoneNumber: '+254711000111',
      networkCode: '63902',
      retryCount: '2',
    }).toString();
    expect((await post(body)).statusCode).toBe(200);
    const first = await rowOf(db, id);
    expect(first).toMatchObject({
      status: 'delivered',
      delivery_status: 'Success',
      delivery_failure_reason: null,
      delivery_retry_count: 2,
    });
    expect((await post(body)).statusCode).toBe(200);
    expect(await rowOf(db, id)).toEqual(first);
    // A late intermediate report does not undo a final one.
    expect((await post(body.replace('status=Success', 'status=Buffered'))).statusCode).toBe(200);
    expect(await rowOf(db, id)).toEqual(first);
    const metrics = await app.get(MetricsService).metrics();
    expect(metrics).toMatch(/deni_sms_delivery_reports_total\{status="Success",outcome="recorded"\} 1\b/);
    expect(metrics).toMatch(/deni_sms_delivery_reports_total\{status="Success",outcome="duplicate"\} 1\b/);
  });

  it('marks a Rejected report rejected, with its failureReason, and shows the outcomes to an operator', async () => {
    const messageId = `ATXid_${uniquePhone()}`;
    const id = await sentRow(db, messageId);
    // AT's documented fields, with a documented failureReason (docs.africastalking.com/sms/deliveryreports).
    const body = new URLSearchParams({
      id: messageId,
      status: 'Rejected',
      phoneNumber: '+254711000111',
      networkCode: '63902',
      failureReason: 'UserInBlackList',
      retryCount: '0',
    }).toString();
    expect((await post(body)).statusCode).toBe(200);
    expect(await rowOf(db, id)).toMatchObject({
      status: 'rejected',
      delivery_status: 'Rejected',
      delivery_failure_reason: 'UserInBlackList',
      last_error: "Africa's Talking reported Rejected: UserInBlackList",
    });
    const [{ phone_number: phone }] = await db.query<{ phone_number: string }[]>(
      `SELECT phone_number FROM notifications WHERE id = $1`,
      [id],
    );
    const own = await app.inject({ method: 'GET', url: `/api/admin/notifications?phoneNumber=${phone}` });
    expect(own.statusCode).toBe(200);
    expect(own.json<unknown[]>()).toEqual([
      expect.objectContaining({
        id,
        status: 'rejected',
        deliveryStatus: 'Rejected',
        deliveryFailureReason: 'UserInBlackList',
      }),
    ]);
    const rejected = await app.inject({ method: 'GET', url: '/api/admin/notifications?status=rejected&limit=200' });
    expect(rejected.json<{ id: string; status: string }[]>().map((n) => [n.id, n.status])).toContainEqual([
      id,
      'rejected',
    ]);
    expect(rejected.json<{ status: string }[]>().every((n) => n.status === 'rejected')).toBe(true);
    // Neither a number nor a status: the whole outbox is not listed.
    expect((await app.inject({ method: 'GET', url: '/api/admin/notifications' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/api/admin/notifications?status=lost' })).statusCode).toBe(400);
  });

  it('answers 200 to a report for an id it does not know, and changes nothing', async () => {
    const known = await sentRow(db, `ATXid_${uniquePhone()}`);
    const before = await rowOf(db, known);
    const res = await post(
      new URLSearchParams({ id: 'ATXid_nobody-sent-this', status: 'Success', phoneNumber: '+254711000111' }).toString(),
    );
    expect(res.statusCode).toBe(200);
    expect(await rowOf(db, known)).toEqual(before);
    const [{ n }] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM notifications WHERE provider_message_id = 'ATXid_nobody-sent-this'`,
    );
    expect(n).toBe(0);
  });

  it('refuses a report without the secret, with a wrong one, or from an address not allowed', async () => {
    const body = fixture('at-sms-delivery-report-failed.txt').replace('ATPid_SampleTxnId123', 'ATXid_guarded');
    const id = await sentRow(db, 'ATXid_guarded');
    const before = await rowOf(db, id);
    expect((await post(body, '')).statusCode).toBe(404);
    expect((await post(body, '?secret=not-the-secret-at-all-000')).statusCode).toBe(404);
    const far = await post(body, `?secret=${SECRET}`, '203.0.113.7');
    expect(far.statusCode).toBe(403);
    expect(far.json<{ code: string }>().code).toBe('SMS.FORBIDDEN_ADDRESS');
    expect(await rowOf(db, id)).toEqual(before);
  });

  it('refuses a report with no id (422: a domain error of kind invalid)', async () => {
    const res = await post('status=Success&phoneNumber=%2B254711000111');
    expect(res.statusCode).toBe(422);
    expect(res.json<{ code: string }>().code).toBe('SMS.BAD_DELIVERY_REPORT');
  });
});

describe("the Africa's Talking simulator's fetch-messages call", () => {
  it('answers GET /version1/messaging with the incoming messages after lastReceivedId', async () => {
    const sim = await startAfricasTalkingSmsSimulator({ username: 'sandbox', apiKey: 'k-123' });
    try {
      const injected = await fetch(`${sim.url}/simulator/sms/incoming`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: '+254711000111', to: '38383', text: 'BALANCE' }),
      });
      expect(injected.status).toBe(201);
      const fetchAfter = (last: string | number, apiKey = 'k-123') =>
        fetch(`${sim.url}/version1/messaging?username=sandbox&lastReceivedId=${last}`, {
          headers: { apiKey, Accept: 'application/json' },
        });
      const res = await fetchAfter(0);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { SMSMessageData: { Messages: Record<string, unknown>[] } };
      expect(Object.keys(body)).toEqual(['SMSMessageData']);
      expect(Object.keys(body.SMSMessageData)).toEqual(['Messages']);
      expect(body.SMSMessageData.Messages).toHaveLength(1);
      const [message] = body.SMSMessageData.Messages;
      expect(Object.keys(message).sort()).toEqual(['date', 'from', 'id', 'linkId', 'text', 'to']);
      expect(message).toMatchObject({ from: '+254711000111', to: '38383', text: 'BALANCE' });
      expect(typeof message.id).toBe('number');
      const after = (await (await fetchAfter(message.id as number)).json()) as typeof body;
      expect(after.SMSMessageData.Messages).toEqual([]);
      expect((await fetchAfter(0, 'wrong-key')).status).toBe(401);
    } finally {
      await sim.close();
    }
  });
});

describe('delivery reports through the simulators process', () => {
  const tracker = new ProcessTracker();
  const dataDir = mkdtempSync(join(tmpdir(), 'deni-simulators-dlr-'));
  let app: NestFastifyApplication | undefined;
  afterAll(async () => {
    await app?.close();
    await tracker.killAll();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('posts a report per message to Deni, which marks it delivered, or failed with the reason', async () => {
    const port = await freePort();
    const simulators = await startSimulatorsProcess(tracker, dataDir, 0, {
      SIMULATOR_AT_DELIVERY_REPORT_URL: `http://127.0.0.1:${port}${ROUTE}?secret=${SECRET}`,
    });
    ({ app } = await startTestApp({
      REDIS_KEY_PREFIX: ownRedisPrefix(),
      APP_ROLE: 'all',
      SMS_PROVIDER: 'africastalking',
      AT_BASE_URL: simulators.url,
      AT_USERNAME: 'sandbox',
      AT_API_KEY: 'simulator-api-key',
      AT_DELIVERY_REPORT_SECRET: SECRET,
    }));
    await app.listen(port, '127.0.0.1');
    const db = app.get(DataSource);
    const token = async (phoneNumber: string) => {
      const res = await app!.inject({ method: 'POST', url: '/api/auth/otp', payload: { phoneNumber } });
      expect(res.statusCode).toBe(202);
      return eventually(
        () =>
          db
            .query<{ id: string }[]>(`SELECT id FROM notifications WHERE phone_number = $1`, [phoneNumber])
            .then((r) => r[0]?.id),
        (v) => v !== undefined,
      );
    };

    const delivered = await token(uniquePhone());
    expect(
      await eventually(
        () => rowOf(db, delivered),
        (r) => r.status === 'delivered',
        15_000,
      ),
    ).toMatchObject({ status: 'delivered', delivery_status: 'Success', delivery_failure_reason: null });

    const refused = uniquePhone();
    const outcome = await fetch(`${simulators.url}/simulator/sms/outcomes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phoneNumber: refused, status: 'Failed', failureReason: 'DoNotDisturbRejection' }),
    });
    expect(outcome.status).toBe(200);
    const failed = await token(refused);
    expect(
      await eventually(
        () => rowOf(db, failed),
        (r) => r.status === 'failed',
        15_000,
      ),
    ).toMatchObject({ status: 'failed', delivery_status: 'Failed', delivery_failure_reason: 'DoNotDisturbRejection' });

    const blacklisted = uniquePhone();
    await fetch(`${simulators.url}/simulator/sms/outcomes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phoneNumber: blacklisted, status: 'Rejected', failureReason: 'UserInBlackList' }),
    });
    const rejected = await token(blacklisted);
    expect(
      await eventually(
        () => rowOf(db, rejected),
        (r) => r.status === 'rejected',
        15_000,
      ),
    ).toMatchObject({ status: 'rejected', delivery_status: 'Rejected', delivery_failure_reason: 'UserInBlackList' });
  });
});
