import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { UsersService } from '../src/users/users.service.js';
import { OfflineItemNotReady, OfflineQueueService } from '../src/sync/offline-queue/offline-queue.service.js';
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
