import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { buildConfig, parseEnv } from '../src/config/app-config.js';
import { TransactionService } from '../src/database/transaction.service.js';
import { createRootLogger } from '../src/logging/logger.js';
import {
  AfricasTalkingSmsProvider,
  readSendReply,
  type AfricasTalkingSettings,
  type AtSendReply,
} from '../src/notifications/africastalking-sms.provider.js';
import { NotificationsService } from '../src/notifications/notifications.service.js';
import { PermanentSmsError, SMS_PROVIDER, SmsInDoubtError } from '../src/notifications/sms-provider.js';
import { isGsm7 } from '../src/notifications/sms-text.js';
import {
  startAfricasTalkingSmsSimulator,
  type AfricasTalkingSmsSimulator,
} from '../src/simulators/africastalking/africastalking-sms.simulator.js';
import { eventually } from './support/eventually.js';
import { freePort } from './support/processes.js';
import { startTestApp, uniquePhone } from './support/test-app.js';
import { memorySink } from './support/logs.js';
import { configProblems } from './support/config-problems.js';

/** The exact bytes of a provider fixture (see test/fixtures/providers/SOURCES.md). */
const fixture = (name: string) => readFileSync(join(process.cwd(), 'test/fixtures/providers', name), 'utf8');

/** Rejects with what `p` threw, or fails when it resolved. */
async function thrown(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const settings = (
  sim: AfricasTalkingSmsSimulator,
  extra: Partial<AfricasTalkingSettings> = {},
): AfricasTalkingSettings => ({
  baseUrl: sim.url,
  username: sim.username,
  apiKey: sim.apiKey,
  timeoutMs: 2_000,
  ...extra,
});

describe("Africa's Talking SMS: the provider against its simulator and the published samples", () => {
  let sim: AfricasTalkingSmsSimulator;

  beforeAll(async () => {
    // The account of AT's own curl example.
    sim = await startAfricasTalkingSmsSimulator({ username: 'MyAppUsername', apiKey: 'MyAppApiKey' });
    // No app yet: keep Nest's default console logger quiet (the app below installs its own).
    Logger.overrideLogger(false);
  });
  afterEach(() => sim.reset());
  afterAll(() => sim.close());

  it('sends the fields of the published request, form-encoded, with the apiKey header', async () => {
    const sample = new URLSearchParams(fixture('at-sms-request.txt'));
    const provider = new AfricasTalkingSmsProvider(settings(sim, { senderId: sample.get('from')! }));

    const result = await provider.send('254711000111', sample.get('message')!, 'n-1');

    expect(sim.messages).toHaveLength(1);
    const [got] = sim.messages;
    const received = new URLSearchParams(got.rawBody);
    // The same fields, with the same values, as the sample (which sends to two numbers at once).
    expect([...new Set(received.keys())].sort()).toEqual([...new Set(sample.keys())].sort());
    expect(received.get('username')).toBe(sample.get('username'));
    expect(received.get('message')).toBe('Hello World!');
    expect(received.get('message')).toBe(sample.get('message'));
    expect(received.get('from')).toBe(sample.get('from'));
    // `to` in the sample's form: E.164 numbers with the plus, which travels percent-encoded.
    expect(sample.get('to')!.split(',')).toEqual(['+254711XXXYYY', '+254733YYYZZZ']);
    expect(received.get('to')).toBe('+254711000111');
    expect(fixture('at-sms-request.txt')).toContain('to=%2B254');
    expect(got.rawBody).toContain('to=%2B254711000111');
    expect(got.apiKey).toBe('MyAppApiKey');
    expect(got.accept).toBe('application/json');
    expect(got.contentType).toMatch(/^application\/x-www-form-urlencoded/);
    expect(result.providerMessageId).toBe(got.recipients[0].messageId);
    expect(result.providerMessageId).toMatch(/^ATXid_[0-9a-f]{32}$/);
  });

  it('leaves out `from` when no sender id is set', async () => {
    await new AfricasTalkingSmsProvider(settings(sim)).send('254711000111', 'hi', 'n-2');
    expect(new URLSearchParams(sim.messages[0].rawBody).has('from')).toBe(false);
  });

  it('answers in the shape of the published response', async () => {
    const sample = JSON.parse(fixture('at-sms-send-response.json')) as AtSendReply;
    const res = await fetch(`${sim.url}/version1/messaging`, {
      method: 'POST',
      headers: {
        apiKey: 'MyAppApiKey',
        Accept: 'application/json',
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: fixture('at-sms-request.txt').replace(/XXXYYY|YYYZZZ/g, '000111'),
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as AtSendReply;
    const shape = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(shape)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]))
          : typeof v;
    expect(shape(body.SMSMessageData.Recipients[0])).toEqual(shape(sample.SMSMessageData.Recipients[0]));
    expect(Object.keys(body.SMSMessageData).sort()).toEqual(Object.keys(sample.SMSMessageData).sort());
    expect(body.SMSMessageData.Recipients).toHaveLength(2);
    expect(body.SMSMessageData.Message).toBe('Sent to 2/2 Total Cost: KES 1.6000');
    expect(body.SMSMessageData.Recipients[0]).toMatchObject({
      statusCode: 101,
      status: 'Success',
      cost: 'KES 0.8000',
      number: '+254711000111',
    });
  });

  it('reads the published success response: the message id', () => {
    expect(readSendReply(201, fixture('at-sms-send-response.json'), '+254711XXXYYY')).toEqual({
      providerMessageId: 'ATPid_SampleTxnId123',
    });
  });

  it('reads the published DoNotDisturb response (HTTP 409) as a permanent refusal', () => {
    const err = (() => {
      try {
        readSendReply(409, fixture('at-sms-send-response-dnd-409.json'), '+2348XXXXXXX');
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a refusal');
    })();
    expect(err).toBeInstanceOf(PermanentSmsError);
    expect(err.message).toBe("Africa's Talking refused +2348XXXXXXX: DoNotDisturbRejection (statusCode 409, HTTP 409)");
  });

  it('tells retryable failures from permanent refusals', () => {
    const sample = JSON.parse(fixture('at-sms-send-response.json')) as AtSendReply;
    const withRecipient = (statusCode: number, status: string) =>
      JSON.stringify({
        SMSMessageData: {
          ...sample.SMSMessageData,
          Recipients: [{ ...sample.SMSMessageData.Recipients[0], statusCode, status, messageId: 'None' }],
        },
      });
    const failure = (status: number, text: string) => {
      try {
        readSendReply(status, text, '+254711XXXYYY');
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a failure');
    };
    for (const [code, status] of [
      [403, 'InvalidPhoneNumber'],
      [404, 'UnsupportedNumberType'],
      [406, 'UserInBlacklist'],
      [407, 'CouldNotRoute'],
    ] as const) {
      const err = failure(201, withRecipient(code, status));
      expect(err).toBeInstanceOf(PermanentSmsError);
      expect(err.message).toContain(`${status} (statusCode ${code}`);
    }
    for (const [code, status] of [
      [401, 'RiskHold'],
      [402, 'InvalidSenderId'],
      [405, 'InsufficientBalance'],
      [500, 'InternalServerError'],
      [502, 'RejectedByGateway'],
    ] as const) {
      const err = failure(201, withRecipient(code, status));
      expect(err).not.toBeInstanceOf(PermanentSmsError);
      expect(err.message).toContain(status);
    }
    expect(failure(500, 'There was an internal server error.').message).toBe(
      "Africa's Talking answered HTTP 500: There was an internal server error.",
    );
    expect(failure(200, '<html>\n<body>busy</body></html>').message).toBe(
      "Africa's Talking sent an unreadable reply (HTTP 200): <html> <body>busy</body></html>",
    );
    expect(failure(201, '{"SMSMessageData":{"Message":"InvalidPhoneNumber","Recipients":[]}}')).toBeInstanceOf(
      PermanentSmsError,
    );
    expect(failure(201, '{"SMSMessageData":{"Message":"InvalidSenderId","Recipients":[]}}')).not.toBeInstanceOf(
      PermanentSmsError,
    );
    // A recipient marked sent but with a failing HTTP status is not taken as sent.
    expect(failure(500, fixture('at-sms-send-response.json'))).not.toBeInstanceOf(PermanentSmsError);
  });

  it('tells a reply that does not say what became of the message (in doubt) from a refusal', () => {
    const failure = (status: number, text: string) => {
      try {
        readSendReply(status, text, '+254711XXXYYY');
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a failure');
    };
    // A 5xx or a 2xx without AT's body may come from a gateway after AT took the message.
    expect(failure(500, 'There was an internal server error.')).toBeInstanceOf(SmsInDoubtError);
    expect(failure(502, '<html>Bad Gateway</html>')).toBeInstanceOf(SmsInDoubtError);
    expect(failure(200, '<html><body>busy</body></html>')).toBeInstanceOf(SmsInDoubtError);
    // AT's own body naming the recipient as taken, under a failing HTTP status.
    expect(failure(500, fixture('at-sms-send-response.json'))).toBeInstanceOf(SmsInDoubtError);
    // Refusals said in words: nothing was sent.
    expect(failure(401, 'The supplied authentication is invalid')).not.toBeInstanceOf(SmsInDoubtError);
    expect(failure(409, fixture('at-sms-send-response-dnd-409.json'))).toBeInstanceOf(PermanentSmsError);
    expect(failure(201, '{"SMSMessageData":{"Message":"InvalidSenderId","Recipients":[]}}')).not.toBeInstanceOf(
      SmsInDoubtError,
    );
  });

  it('says why when the simulator refuses or fails, and never puts the apiKey in the message', async () => {
    const provider = new AfricasTalkingSmsProvider(settings(sim, { timeoutMs: 300 }));
    const wrongKey = new AfricasTalkingSmsProvider(settings(sim, { apiKey: 'not-the-key' }));
    expect((await thrown(wrongKey.send('254711000111', 'hi', 'n'))).message).toBe(
      "Africa's Talking answered HTTP 401: The supplied authentication is invalid",
    );
    const wrongUser = new AfricasTalkingSmsProvider(settings(sim, { username: 'someone-else' }));
    expect((await thrown(wrongUser.send('254711000111', 'hi', 'n'))).message).toContain('HTTP 401');

    sim.failNext(1, 'http500');
    expect((await thrown(provider.send('254711000111', 'hi', 'n'))).message).toContain('HTTP 500');
    sim.failNext(1, 'blacklist');
    const blacklisted = await thrown(provider.send('254711000111', 'hi', 'n'));
    expect(blacklisted).toBeInstanceOf(PermanentSmsError);
    expect(blacklisted.message).toBe(
      "Africa's Talking refused +254711000111: UserInBlacklist (statusCode 406, HTTP 201)",
    );
    sim.failNext(1, 'timeout');
    // The simulator never answers this one: the client's own timeout is what ended the wait, and
    // the request had left, so whether AT sent it is not known.
    const timedOut = await thrown(provider.send('254711000111', 'hi', 'n'));
    expect(timedOut.message).toBe("Africa's Talking did not answer within 300 ms");
    expect(timedOut).toBeInstanceOf(SmsInDoubtError);
    // Failures were used up: the next send goes through.
    await expect(provider.send('254711000111', 'hi', 'n')).resolves.toMatchObject({
      providerMessageId: expect.stringMatching(/^ATXid_/) as unknown,
    });

    // A port nothing listens on (fetch itself refuses some, such as 1, before connecting).
    const unreachable = new AfricasTalkingSmsProvider({
      ...settings(sim),
      baseUrl: `http://127.0.0.1:${await freePort()}`,
    });
    const refused = await thrown(unreachable.send('254711000111', 'hi', 'n'));
    expect(refused.message).toBe("could not reach Africa's Talking: ECONNREFUSED");
    // The connection was never made: nothing left, and sending again is safe for any message.
    expect(refused).not.toBeInstanceOf(SmsInDoubtError);
    expect(sim.messages.map((m) => m.outcome)).toEqual([
      'Unauthorized',
      'Unauthorized',
      'http500',
      'UserInBlacklist',
      'timeout',
      'Success',
    ]);
  });

  it('lists what a number received, and refuses numbers on its blacklist for good', async () => {
    const own = await startAfricasTalkingSmsSimulator({ blacklist: ['254722000999'] });
    try {
      const provider = new AfricasTalkingSmsProvider(settings(own));
      await provider.send('254711000111', 'first', 'n');
      await provider.send('254711000111', 'second', 'n');
      await provider.send('254733000222', 'other', 'n');
      const refusal = await thrown(provider.send('254722000999', 'never', 'n'));
      expect(refusal).toBeInstanceOf(PermanentSmsError);
      expect(refusal.message).toContain('UserInBlacklist (statusCode 406');
      const res = await fetch(`${own.url}/simulator/messages?phoneNumber=254711000111`);
      expect(((await res.json()) as { message: string }[]).map((m) => m.message)).toEqual(['second', 'first']);
      expect(own.delivered().map((m) => m.message)).toEqual(['first', 'second', 'other']);
    } finally {
      await own.close();
    }
  });

  it('refuses a number that is not one without asking the provider', async () => {
    const err = await thrown(new AfricasTalkingSmsProvider(settings(sim)).send('07-not-a-number', 'hi', 'n'));
    expect(err).toBeInstanceOf(PermanentSmsError);
    expect(sim.messages).toHaveLength(0);
  });
});

describe('SMS_PROVIDER configuration', () => {
  const problems = configProblems;

  it('defaults to the log provider and the live Africa’s Talking URL', () => {
    const config = buildConfig(parseEnv({ NODE_ENV: 'test' }));
    expect(config.sms.provider).toBe('log');
    expect(config.sms.africasTalking).toEqual({ baseUrl: 'https://api.africastalking.com', timeoutMs: 10_000 });
    // Development without MPESA_BASE_URL talks to the simulators process (docs/simulator.md).
    expect(buildConfig(parseEnv({ NODE_ENV: 'development' })).sms.africasTalking.baseUrl).toBe('http://127.0.0.1:8383');
  });

  it('requires AT_USERNAME and AT_API_KEY for africastalking', () => {
    expect(problems({ SMS_PROVIDER: 'africastalking', AT_BASE_URL: 'http://127.0.0.1:4011' })).toEqual([
      'AT_USERNAME: required when SMS_PROVIDER=africastalking',
      'AT_API_KEY: required when SMS_PROVIDER=africastalking',
    ]);
    // Africa's Talking itself (the default AT_BASE_URL) is live: production's secrets apply (app-config.spec).
    expect(
      problems({
        SMS_PROVIDER: 'africastalking',
        AT_USERNAME: 'sandbox',
        AT_API_KEY: 'k',
        AT_BASE_URL: 'http://127.0.0.1:4011',
      }),
    ).toEqual([]);
    expect(problems({ SMS_PROVIDER: 'twilio' })).toHaveLength(1);
    expect(problems({ AT_BASE_URL: 'ftp://x' })[0]).toMatch(/^AT_BASE_URL:/);
  });
});

describe("Africa's Talking end to end: outbox → queue → provider → simulator", () => {
  const API_KEY = 'at-test-key-b6f1c0a9e2d74f58';
  let sim: AfricasTalkingSmsSimulator;
  let app: NestFastifyApplication;
  let db: DataSource;
  let notifications: NotificationsService;
  let transactions: TransactionService;
  let logLines: string[] = [];

  beforeAll(async () => {
    sim = await startAfricasTalkingSmsSimulator({ username: 'sandbox', apiKey: API_KEY });
    const sink = memorySink();
    logLines = sink.lines;
    ({ app } = await startTestApp(
      {
        APP_ROLE: 'all',
        SMS_PROVIDER: 'africastalking',
        AT_BASE_URL: sim.url,
        AT_USERNAME: 'sandbox',
        AT_API_KEY: API_KEY,
        AT_SENDER_ID: 'DENI',
        AT_TIMEOUT_MS: '1000',
        NOTIFICATIONS_MAX_ATTEMPTS: '4',
        NOTIFICATIONS_BACKOFF_MS: '100',
        LOG_LEVEL: 'debug',
      },
      // The app's real logger (redaction included), writing into memory.
      { logger: (config) => createRootLogger(config, sink.stream) },
    ));
    db = app.get(DataSource);
    notifications = app.get(NotificationsService);
    transactions = app.get(TransactionService);
  });
  afterAll(async () => {
    await app?.close();
    await sim?.close();
  });

  /** A notification's row as the outbox keeps it. */
  interface NotificationRow {
    status: string;
    attempts: number;
    provider: string | null;
    provider_message_id: string | null;
    last_error: string | null;
    body: string;
  }
  const rowOf = (id: string) =>
    db
      .query<NotificationRow[]>(
        `SELECT status, attempts, provider, provider_message_id, last_error, body FROM notifications WHERE id = $1`,
        [id],
      )
      .then((r) => r[0]);
  const notify = (phone: string) =>
    transactions.run((tx) =>
      notifications.notify(tx, { phoneNumber: phone, language: 'en', template: 'pin.changed', params: {} }),
    );
  const settle = () => new Promise((r) => setTimeout(r, 800)); // well past the backoff of any retry

  it('is the provider SMS_PROVIDER chose', () => {
    expect(app.get(SMS_PROVIDER)).toBeInstanceOf(AfricasTalkingSmsProvider);
  });

  it('delivers a one-time code to the simulator and records its message id', async () => {
    const phone = uniquePhone();
    expect(
      (await app.inject({ method: 'POST', url: '/api/auth/otp', payload: { phoneNumber: phone } })).statusCode,
    ).toBe(202);
    const row = await eventually(
      () =>
        db
          .query<Omit<NotificationRow, 'last_error'>[]>(
            `SELECT status, provider, provider_message_id, body, attempts FROM notifications WHERE phone_number = $1`,
            [phone],
          )
          .then((r) => r[0]),
      (r) => r?.status === 'sent',
    );
    const delivered = sim.delivered(phone);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({
      username: 'sandbox',
      apiKey: API_KEY,
      to: `+${phone}`,
      from: 'DENI',
      message: row.body,
    });
    expect(row.body).toMatch(/^Deni: your code is \d{6}\./);
    expect(row).toMatchObject({
      provider: 'africastalking',
      attempts: 1,
      provider_message_id: delivered[0].recipients[0].messageId,
    });
    expect(row.provider_message_id).toMatch(/^ATXid_/);
  });

  it('retries a provider failure (HTTP 500, then an unreadable page) and delivers exactly once', async () => {
    const phone = uniquePhone();
    sim.failNext(1, 'http500', { to: phone });
    sim.failNext(1, 'unreadable', { to: phone });
    const id = await notify(phone);
    const sent = await eventually(
      () => rowOf(id),
      (r) => r.status === 'sent',
    );
    await settle();
    expect(sim.messages.filter((m) => m.to === `+${phone}`).map((m) => m.outcome)).toEqual([
      'http500',
      'unreadable',
      'Success',
    ]);
    expect(sim.delivered(phone)).toHaveLength(1);
    expect(sent).toMatchObject({
      attempts: 3,
      last_error: null,
      provider_message_id: sim.delivered(phone)[0].recipients[0].messageId,
    });
  });

  it('retries a provider that does not answer in time', async () => {
    const phone = uniquePhone();
    sim.failNext(1, 'timeout', { to: phone });
    const id = await notify(phone);
    const sent = await eventually(
      () => rowOf(id),
      (r) => r.status === 'sent',
    );
    expect(sent.attempts).toBe(2);
    expect(sim.messages.filter((m) => m.to === `+${phone}`).map((m) => m.outcome)).toEqual(['timeout', 'Success']);
  });

  it('does not send a money confirmation again when the answer never came: unknown, for an operator', async () => {
    const phone = uniquePhone();
    sim.failNext(1, 'timeout', { to: phone });
    const id = await transactions.run((tx) =>
      notifications.notify(tx, {
        phoneNumber: phone,
        language: 'en',
        template: 'deposit.received',
        params: { amount: 500, deducted: 0, balance: 500 },
      }),
    );
    const unknown = await eventually(
      () => rowOf(id),
      (r) => r.status !== 'pending' && r.status !== 'sending',
    );
    await settle();
    expect(unknown).toMatchObject({ status: 'unknown', attempts: 1, provider_message_id: null });
    expect(unknown.last_error).toBe("In doubt: Africa's Talking did not answer within 1000 ms");
    expect(sim.messages.filter((m) => m.to === `+${phone}`).map((m) => m.outcome)).toEqual(['timeout']);
    expect((await rowOf(id)).status).toBe('unknown');
    const listed = await app.inject({ method: 'GET', url: '/api/admin/notifications?status=unknown&limit=200' });
    expect(listed.statusCode).toBe(200);
    expect(listed.json<{ id: string; template: string }[]>()).toContainEqual(
      expect.objectContaining({ id, template: 'deposit.received', status: 'unknown' }),
    );
  });

  it('fails a blacklisted number at once, without spending the other attempts', async () => {
    const phone = uniquePhone();
    sim.failNext(1, 'blacklist', { to: phone });
    const id = await notify(phone);
    const failed = await eventually(
      () => rowOf(id),
      (r) => r.status === 'failed',
    );
    await settle();
    expect(failed).toMatchObject({
      attempts: 1,
      provider: 'africastalking',
      provider_message_id: null,
      last_error: `Africa's Talking refused +${phone}: UserInBlacklist (statusCode 406, HTTP 201)`,
    });
    expect(sim.messages.filter((m) => m.to === `+${phone}`)).toHaveLength(1);
    expect((await rowOf(id)).status).toBe('failed');
  });

  it('fails a DoNotDisturb refusal (HTTP 409) at once too', async () => {
    const phone = uniquePhone();
    sim.failNext(1, 'dnd', { to: phone });
    const id = await notify(phone);
    const failed = await eventually(
      () => rowOf(id),
      (r) => r.status === 'failed',
    );
    await settle();
    expect(failed.attempts).toBe(1);
    expect(failed.last_error).toContain('DoNotDisturbRejection (statusCode 409, HTTP 409)');
    expect(sim.messages.filter((m) => m.to === `+${phone}`)).toHaveLength(1);
  });

  it('shortens a text over 160 GSM-7 characters to one SMS, and sends exactly that', async () => {
    const phone = uniquePhone();
    const borrower = 'Wanjiku “Shiku” Njeri-Kamau wa Nyeri '.repeat(4); // a long, non-GSM-7 value
    const id = await transactions.run((tx) =>
      notifications.notify(tx, {
        phoneNumber: phone,
        language: 'en',
        template: 'loan.requested',
        params: { borrower, amount: 5000, repayment: 1000 },
      }),
    );
    const sent = await eventually(
      () => rowOf(id),
      (r) => r.status === 'sent',
    );
    expect(sent.body.length).toBeLessThanOrEqual(160);
    expect(sent.body.length).toBeGreaterThan(140);
    expect(sent.body).toMatch(/^Deni: Wanjiku "Shiku" Njeri-Kamau/);
    expect(sent.body.endsWith('...')).toBe(true);
    expect(isGsm7(sent.body)).toBe(true);
    expect(sim.delivered(phone).map((m) => m.message)).toEqual([sent.body]);
  });

  it('never writes the apiKey into logs or the outbox', async () => {
    // An SMS of its own through the provider, so its log lines are there whatever ran before.
    const phone = uniquePhone();
    expect(
      (await app.inject({ method: 'POST', url: '/api/auth/otp', payload: { phoneNumber: phone } })).statusCode,
    ).toBe(202);
    await eventually(
      () =>
        db
          .query<{ status: string }[]>(`SELECT status FROM notifications WHERE phone_number = $1`, [phone])
          .then((r) => r[0]),
      (r) => r?.status === 'sent',
    );
    // A line that carries the key on purpose, as a careless log of the request would.
    new Logger('Test').log(
      { headers: { apikey: API_KEY }, env: { AT_API_KEY: API_KEY }, apiKey: API_KEY },
      'logging a secret by mistake',
    );
    await new Promise((r) => setTimeout(r, 50));
    const text = logLines.join('');
    expect(text).toContain("SMS sent (Africa's Talking)"); // the capture works
    expect(text).toContain('logging a secret by mistake');
    expect(text).toContain('[redacted]');
    expect(text).not.toContain(API_KEY);
    const [{ n }] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM notifications WHERE last_error LIKE $1 OR body LIKE $1`,
      [`%${API_KEY}%`],
    );
    expect(n).toBe(0);
  });
});
