import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { UsersService } from '../src/users/users.service.js';
import {
  OFFLINE_ITEM_LOCK_MS,
  OfflineItemNotReady,
  OfflineQueueService,
} from '../src/sync/offline-queue/offline-queue.service.js';
import type { RedisClient } from '../src/redis/redis-connection.factory.js';
import { REDIS } from '../src/redis/redis.tokens.js';
import { eventually } from './support/eventually.js';
import { JobsService } from '../src/queues/jobs.service.js';
import { QueueName } from '../src/queues/queue-names.js';
import { ADMIN_KEY, ApiClient } from './support/api-client.js';
import { ledgerViolations } from './support/invariants.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

/**
 * An item queued offline is applied by the worker's job and, on an operator's request, by
 * `POST /api/ussd/sync`, which may run at the same moment. Whoever gets there: applied once, its
 * outcome told once, and every caller answered.
 */
describe('the offline queue: the worker and POST /api/ussd/sync on the same item', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let db: DataSource;

  beforeAll(async () => {
    // No workers in this process: the test plays the worker itself, so it controls the timing.
    ({ app } = await startTestApp({ APP_ROLE: 'api', ADMIN_API_KEY: ADMIN_KEY }));
    api = new ApiClient(app);
    db = app.get(DataSource);
  });
  afterAll(() => app.close());
  afterEach(async () => expect(await ledgerViolations(db)).toEqual([]));

  it('applies a queued loan request once, tells its outcome once, and answers every caller', async () => {
    const users = app.get(UsersService);
    const queue = app.get(OfflineQueueService);
    for (let round = 0; round < 5; round += 1) {
      const [borrower, lender] = [uniquePhone(), uniquePhone()];
      const b = await users.findOrRegister(borrower);
      await users.findOrRegister(lender);
      const id = await queue.enqueue({
        type: 'LOAN_REQUEST',
        phoneNumber: borrower,
        userId: b.id,
        language: 'en',
        data: { lenderPhoneNumber: lender, amount: 1_500, repaymentPerDeposit: 150 },
        key: `race-${randomUUID()}`,
      });

      // The worker's job: applies the item, or finds it being applied and is retried later.
      const worker = () =>
        queue.apply(id).then(
          (state) => state?.status ?? 'gone',
          (e: unknown) => {
            if (e instanceof OfflineItemNotReady) return 'busy';
            throw e;
          },
        );
      const [worker1, sync1, worker2, sync2] = await Promise.all([
        worker(),
        api.call<{ success: boolean; synced: number; errors: unknown[] }>('POST', '/api/ussd/sync', {
          admin: true,
          body: { phoneNumber: borrower },
        }),
        worker(),
        api.call<{ success: boolean; synced: number; errors: unknown[] }>('POST', '/api/ussd/sync', {
          admin: true,
          body: { phoneNumber: borrower },
        }),
      ]);
      expect([sync1.status, sync2.status]).toEqual([200, 200]);
      // A caller that found the item being applied is told so; nobody gets anything else wrong.
      for (const { error } of [...sync1.body.errors, ...sync2.body.errors] as { error: string }[])
        expect(error).toBe('being applied elsewhere');
      for (const state of [worker1, worker2]) expect(['applied', 'busy']).toContain(state);
      // The one that held the item's lock saw it through (the loan and SMS counts below show once)...
      const appliedBy =
        [worker1, worker2].filter((s) => s === 'applied').length + sync1.body.synced + sync2.body.synced;
      expect(appliedBy).toBeGreaterThanOrEqual(1);
      // ...and a job retried afterwards finds it done.
      expect(await worker()).toBe('applied');

      expect(await queue.get(id)).toMatchObject({ status: 'applied', synced: true });
      const [{ loans }] = await db.query<{ loans: number }[]>(
        `SELECT count(*)::int AS loans FROM loans l JOIN users u ON u.id = l.borrower_id WHERE u.phone_number = $1`,
        [borrower],
      );
      expect(loans).toBe(1);
      const [{ told }] = await db.query<{ told: number }[]>(
        `SELECT count(*)::int AS told FROM notifications WHERE phone_number = $1 AND template = 'offline.applied'`,
        [borrower],
      );
      expect(told).toBe(1);
    }
  });
});

/**
 * A process killed while applying an item (the fault test kills the worker mid-load) leaves the
 * item's lock behind. Another process must take the item over once the lock lapses, not wait out
 * the lock's old five minutes, with the same phone's later writes held behind it all along.
 */
describe('the offline queue after a process died applying an item', () => {
  let app: NestFastifyApplication;
  let db: DataSource;

  beforeAll(async () => {
    ({ app } = await startTestApp({ APP_ROLE: 'all' }));
    db = app.get(DataSource);
  });
  afterAll(() => app.close());
  afterEach(async () => expect(await ledgerViolations(db)).toEqual([]));

  it("applies the item, then the phone's next one, soon after the dead process's lock lapses", async () => {
    const users = app.get(UsersService);
    const queue = app.get(OfflineQueueService);
    const redis = app.get<RedisClient>(REDIS);
    const [borrower, lender] = [uniquePhone(), uniquePhone()];
    const b = await users.findOrRegister(borrower);
    await users.findOrRegister(lender);
    const request = (amount: number) => ({
      type: 'LOAN_REQUEST' as const,
      phoneNumber: borrower,
      userId: b.id,
      language: 'en' as const,
      data: { lenderPhoneNumber: lender, amount, repaymentPerDeposit: 100 },
      key: `died-${randomUUID()}`,
    });
    const first = request(1_000);
    // The lock a process that died while applying the first item leaves, as it takes it.
    await redis.set(`offline:lock:${queue.referenceFor(first.key)}`, 'a-process-now-dead', 'PX', OFFLINE_ITEM_LOCK_MS);
    const ids = [await queue.enqueue(first), await queue.enqueue(request(2_000))];

    // Both wait while the dead process's lock lives (the second behind the first)...
    await eventually(
      () => redis.exists(`offline:lock:${ids[0]}`),
      (n) => n === 0,
      OFFLINE_ITEM_LOCK_MS + 1_000,
    );
    // ...and are applied, in order, once it lapses: a job that found the item locked is tried
    // again within seconds, not after an exponential backoff.
    const states = await eventually(
      () => Promise.all(ids.map(async (id) => (await queue.get(id))?.status)),
      (s) => s.every((status) => status === 'applied'),
      10_000,
    );
    expect(states).toEqual(['applied', 'applied']);
    // Finding the item taken was not an attempt: a later outage's backoff starts from its first.
    const jobs = app.get(JobsService).queue(QueueName.UssdOffline);
    const attempts = await Promise.all(ids.map(async (id) => (await jobs.getJob(`offline-${id}`))?.attemptsMade));
    expect(attempts).toEqual([1, 1]);
    const principals = await db.query<{ principal: string }[]>(
      `SELECT l.principal::text FROM loans l JOIN users u ON u.id = l.borrower_id WHERE u.phone_number = $1 ORDER BY l.created_at`,
      [borrower],
    );
    expect(principals.map((l) => l.principal)).toEqual(['1000', '2000']);
  }, 60_000);
});
