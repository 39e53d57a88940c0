import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { TransactionService } from '../src/database/transaction.service.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { NotificationsService } from '../src/notifications/notifications.service.js';
import { OutboxRepository } from '../src/notifications/outbox.repository.js';
import { SMS_PROVIDER, type SmsProvider } from '../src/notifications/sms-provider.js';
import { JobsService } from '../src/queues/jobs.service.js';
import { QueueName } from '../src/queues/queue-names.js';
import { productionEnv } from './support/production-env.js';
import { startTestApp, uniquePhone } from './support/test-app.js';
import { eventually } from './support/eventually.js';

describe('notifications outbox (real PostgreSQL, Redis and BullMQ workers)', () => {
  let app: NestFastifyApplication;
  let db: DataSource;
  let notifications: NotificationsService;
  let transactions: TransactionService;
  let provider: SmsProvider;
  let realSend: SmsProvider['send'];

  beforeAll(async () => {
    ({ app } = await startTestApp({
      APP_ROLE: 'all',
      NOTIFICATIONS_MAX_ATTEMPTS: '3',
      NOTIFICATIONS_BACKOFF_MS: '100',
      NOTIFICATIONS_RELAY_AGE_MS: '1000',
    }));
    db = app.get(DataSource);
    notifications = app.get(NotificationsService);
    transactions = app.get(TransactionService);
    provider = app.get(SMS_PROVIDER);
    realSend = provider.send.bind(provider);
  });
  afterEach(() => {
    provider.send = realSend;
  });
  afterAll(() => app.close());

  /** A notification's row as the outbox keeps it. */
  interface NotificationRow {
    status: string;
    attempts: number;
    provider: string | null;
    provider_message_id: string | null;
    last_error: string | null;
    body: string;
  }
  const row = (id: string) =>
    db
      .query<NotificationRow[]>(
        `SELECT status, attempts, provider, provider_message_id, last_error, body FROM notifications WHERE id = $1`,
        [id],
      )
      .then((r) => r[0]);

  it('sends a message once the transaction that wrote it commits', async () => {
    const phone = uniquePhone();
    const id = await transactions.run((tx) =>
      notifications.notify(tx, { phoneNumber: phone, language: 'sw', template: 'pin.locked', params: { minutes: 30 } }),
    );
    const sent = await eventually(
      () => row(id),
      (r) => r.status === 'sent',
    );
    expect(sent).toMatchObject({ attempts: 1, provider: 'log', provider_message_id: `log-${id}`, last_error: null });
    expect(sent.body).toContain('dakika 30');
  });

  it('writes nothing and queues nothing when the transaction rolls back', async () => {
    const phone = uniquePhone();
    let id = '';
    await expect(
      transactions.run(async (tx) => {
        id = await notifications.notify(tx, {
          phoneNumber: phone,
          language: 'en',
          template: 'pin.changed',
          params: {},
        });
        throw new Error('the change it reports failed');
      }),
    ).rejects.toThrow('the change it reports failed');
    expect(id).not.toBe('');
    expect(await row(id)).toBeUndefined();
    expect(await app.get(JobsService).queue(QueueName.Notifications).getJob(id)).toBeUndefined();
  });

  // The test database is shared with other test files, whose rows this app's relay may send too:
  // the stand-in provider misbehaves only for this test's own number.
  it('retries a failing provider with backoff, then records the success', async () => {
    const phone = uniquePhone();
    let calls = 0;
    provider.send = async (to, body, nid) => {
      if (to !== phone) return realSend(to, body, nid);
      calls += 1;
      if (calls < 3) throw new Error(`gateway timeout ${calls}`);
      return realSend(to, body, nid);
    };
    const id = await transactions.run((tx) =>
      notifications.notify(tx, { phoneNumber: phone, language: 'en', template: 'pin.changed', params: {} }),
    );
    const sent = await eventually(
      () => row(id),
      (r) => r.status === 'sent',
    );
    expect(calls).toBe(3);
    expect(sent).toMatchObject({ attempts: 3, last_error: null });
  });

  it('gives up after the last attempt and keeps the reason', async () => {
    const phone = uniquePhone();
    provider.send = async (to, body, nid) => {
      if (to !== phone) return realSend(to, body, nid);
      throw new Error('invalid sender id');
    };
    const id = await transactions.run((tx) =>
      notifications.notify(tx, { phoneNumber: phone, language: 'en', template: 'pin.changed', params: {} }),
    );
    const failed = await eventually(
      () => row(id),
      (r) => r.status === 'failed',
    );
    expect(failed).toMatchObject({ attempts: 3, last_error: 'invalid sender id' });
  });

  it('relays rows a crash left unqueued, and rows stuck mid-send, exactly once each', async () => {
    const orphan = uniquePhone();
    const stuck = uniquePhone();
    const [{ id: orphanId }] = await db.query<{ id: string }[]>(
      `INSERT INTO notifications (phone_number, template, language, body, created_at, updated_at)
       VALUES ($1, 'pin.changed', 'en', 'orphan', now() - interval '10 minutes', now() - interval '10 minutes') RETURNING id`,
      [orphan],
    );
    const [{ id: stuckId }] = await db.query<{ id: string }[]>(
      `INSERT INTO notifications (phone_number, template, language, body, status, attempts, created_at, updated_at)
       VALUES ($1, 'pin.changed', 'en', 'stuck', 'sending', 1, now() - interval '10 minutes', now() - interval '10 minutes') RETURNING id`,
      [stuck],
    );
    const sentTo: string[] = [];
    provider.send = async (to, body, nid) => {
      sentTo.push(to);
      return realSend(to, body, nid);
    };
    const relayed = await notifications.relay();
    expect(relayed).toBeGreaterThanOrEqual(2);
    await eventually(
      () => row(orphanId),
      (r) => r.status === 'sent',
    );
    await eventually(
      () => row(stuckId),
      (r) => r.status === 'sent',
    );
    // A second relay finds nothing of these left to do.
    await notifications.relay();
    await new Promise((r) => setTimeout(r, 300));
    expect(sentTo.filter((p) => p === orphan)).toHaveLength(1);
    expect(sentTo.filter((p) => p === stuck)).toHaveLength(1);
  });

  /**
   * A row as a worker leaves it when it dies holding it: claimed (`sending`), its lease over or
   * not, and its request gone to the provider (`requestSent`) or not.
   */
  const heldRow = async (template: string, opts: { requestSent: boolean; leaseOver: boolean }) => {
    const phone = uniquePhone();
    const [{ id }] = await db.query<{ id: string }[]>(
      `INSERT INTO notifications (phone_number, template, language, body, status, attempts, lease_until, request_sent_at)
       VALUES ($1, $2, 'en', 'Deni: held', 'sending', 1, now() + $3::interval, CASE WHEN $4 THEN now() - interval '20 seconds' END)
       RETURNING id`,
      [phone, template, opts.leaseOver ? '-1 second' : '1 hour', opts.requestSent],
    );
    return { id, phone };
  };
  const spySends = () => {
    const sentTo: string[] = [];
    provider.send = async (to, body, nid) => {
      sentTo.push(to);
      return realSend(to, body, nid);
    };
    return sentTo;
  };
  const settle = () => new Promise((r) => setTimeout(r, 500));

  it('sends a row whose worker stopped before its request left, even a money confirmation', async () => {
    const sentTo = spySends();
    const { id, phone } = await heldRow('deposit.received', { requestSent: false, leaseOver: true });
    await notifications.relay();
    const sent = await eventually(
      () => row(id),
      (r) => r.status === 'sent',
    );
    await settle();
    expect(sentTo.filter((p) => p === phone)).toHaveLength(1);
    expect(sent).toMatchObject({ attempts: 2, last_error: null });
  });

  it('does not send again a money confirmation in doubt: unknown, listed for an operator and counted', async () => {
    const sentTo = spySends();
    const { id, phone } = await heldRow('deposit.received', { requestSent: true, leaseOver: true });
    await notifications.relay();
    const unknown = await eventually(
      () => row(id),
      (r) => r.status !== 'sending',
    );
    await settle();
    expect(unknown.status).toBe('unknown');
    expect(unknown.last_error).toMatch(/^In doubt: its worker stopped after the request left/);
    expect(sentTo.filter((p) => p === phone)).toHaveLength(0);
    expect((await row(id)).status).toBe('unknown');

    const listed = await app.inject({ method: 'GET', url: `/api/admin/notifications?status=unknown&limit=200` });
    expect(listed.statusCode).toBe(200);
    expect(listed.json<{ id: string }[]>().map((n) => n.id)).toContain(id);
    const own = await app.inject({ method: 'GET', url: `/api/admin/notifications?phoneNumber=${phone}` });
    expect(own.json<{ status: string; requestSentAt: string | null }[]>()[0]).toMatchObject({ status: 'unknown' });
    expect(own.json<{ requestSentAt: string | null }[]>()[0].requestSentAt).not.toBeNull();
    expect(await app.get(MetricsService).metrics()).toMatch(
      /deni_sms_in_doubt_total\{template="deposit.received",policy="never",cause="worker_lost"\} [1-9]/,
    );
  });

  it('sends again a one-time code in doubt', async () => {
    const sentTo = spySends();
    const { id, phone } = await heldRow('auth.otp', { requestSent: true, leaseOver: true });
    await notifications.relay();
    await eventually(
      () => row(id),
      (r) => r.status === 'sent',
    );
    await settle();
    expect(sentTo.filter((p) => p === phone)).toHaveLength(1);
  });

  it('leaves alone a row whose worker still holds its lease', async () => {
    const sentTo = spySends();
    const held = await heldRow('auth.otp', { requestSent: true, leaseOver: false });
    const before = await row(held.id);
    await notifications.relay();
    await settle();
    expect(await row(held.id)).toEqual(before);
    expect(sentTo.filter((p) => p === held.phone)).toHaveLength(0);
  });

  it('refuses by the lease a send whose claim ran out, and takes a late answer only for its own claim', async () => {
    const outbox = app.get(OutboxRepository);
    const lease = 60_000;
    const pendingRow = async (template: string) =>
      (
        await db.query<{ id: string }[]>(
          `INSERT INTO notifications (phone_number, template, language, body) VALUES ($1, $2, 'en', 'Deni: x') RETURNING id`,
          [uniquePhone(), template],
        )
      )[0].id;
    const endLease = (id: string) =>
      db.query(`UPDATE notifications SET lease_until = now() - interval '1 second' WHERE id = $1`, [id]);

    // Claimed, but its lease ran out before the request could leave: it must not leave.
    const late = (await outbox.claim(await pendingRow('deposit.received'), lease))!;
    expect(late).not.toBeNull();
    expect(await outbox.claim(late.id, lease)).toBeNull(); // one claim at a time
    await endLease(late.id);
    expect(await outbox.markRequestSent(late, lease)).toBe(false);

    // Its request left, the relay judged it in doubt (unknown), then the answer came after all.
    const slow = (await outbox.claim(await pendingRow('deposit.received'), lease))!;
    expect(await outbox.markRequestSent(slow, lease)).toBe(true);
    await endLease(slow.id);
    await notifications.relay();
    expect((await row(slow.id)).status).toBe('unknown');
    expect(await outbox.recordSent(slow, { provider: 'log', providerMessageId: 'late-answer' })).toBe(true);
    expect(await row(slow.id)).toMatchObject({ status: 'sent', provider_message_id: 'late-answer', last_error: null });

    // A one-time code put back to pending (as the relay does once its lease is over) and claimed
    // again: the first claim's answer changes nothing. (No job is queued, so no worker races us.)
    const first = (await outbox.claim(await pendingRow('auth.otp'), lease))!;
    expect(await outbox.markRequestSent(first, lease)).toBe(true);
    await db.query(`UPDATE notifications SET status = 'pending', lease_until = NULL WHERE id = $1`, [first.id]);
    const second = (await outbox.claim(first.id, lease))!;
    expect(second.attempt).toBe(first.attempt + 1);
    expect(await outbox.recordSent(first, { provider: 'log', providerMessageId: 'first-claim' })).toBe(false);
    expect(await outbox.recordOutcome(first, 'failed', 'too late', 'log')).toBe(false);
    expect((await row(first.id)).status).toBe('sending');
  });

  it('schedules the relay once in Redis for every worker', async () => {
    const schedulers = await app.get(JobsService).queue(QueueName.Notifications).getJobSchedulers();
    expect(schedulers.map((s) => s.key)).toContain('notifications-relay');
  });
});

describe('one-time codes in production', () => {
  it('are masked in the admin outbox and not kept once sent', async () => {
    const env = productionEnv();
    const adminKey = env.ADMIN_API_KEY;
    const { app } = await startTestApp({ ...env, APP_ROLE: 'all' });
    try {
      const phone = uniquePhone();
      expect(
        (await app.inject({ method: 'POST', url: '/api/auth/otp', payload: { phoneNumber: phone } })).statusCode,
      ).toBe(202);
      const db = app.get(DataSource);
      const sent = await eventually(
        () =>
          db
            .query<{ status: string; body: string }[]>(
              `SELECT status, body FROM notifications WHERE phone_number = $1`,
              [phone],
            )
            .then((r) => r[0]),
        (r) => r?.status === 'sent',
      );
      expect(sent.body).toMatch(/code is \*{6}\./);
      const listed = await app.inject({
        method: 'GET',
        url: `/api/admin/notifications?phoneNumber=${phone}`,
        headers: { 'x-api-key': adminKey },
      });
      expect(listed.json<{ body: string }[]>()[0].body).not.toMatch(/\d{6}/);
    } finally {
      await app.close();
    }
  });
});
