import { DataSource } from 'typeorm';
import { LoansService } from '../src/loans/loans.service.js';
import { UsersService } from '../src/users/users.service.js';
import { ownRedisPrefix, startTestApp, testConfig, uniquePhone } from './support/test-app.js';
import { eventually } from './support/eventually.js';

describe('loan requests expire by a BullMQ job that survives restarts', () => {
  it('a request made by one process is expired by a worker started later, and the borrower is told', async () => {
    // An API-only process takes the request; its expiry job waits in Redis.
    const shared = ownRedisPrefix(); // both processes use the same queues
    const { app: api } = await startTestApp({ APP_ROLE: 'api', LOAN_REQUEST_TTL: '2s', REDIS_KEY_PREFIX: shared });
    const borrower = await api.get(UsersService).findOrRegister(uniquePhone());
    const lender = uniquePhone();
    const loan = await api
      .get(LoansService)
      .requestLoan({ borrowerId: borrower.id, lenderPhoneNumber: lender, amount: 1000, repaymentPerDeposit: 100 });
    const declinedToo = await api
      .get(LoansService)
      .requestLoan({ borrowerId: borrower.id, lenderPhoneNumber: lender, amount: 2000, repaymentPerDeposit: 100 });
    const lenderUser = await api.get(UsersService).findOrRegister(lender);
    await api.get(LoansService).decline(declinedToo.id, lenderUser.id);
    await api.close();

    // A worker process starts afterwards (as after a restart) and runs the delayed job.
    const { app: worker } = await startTestApp({
      APP_ROLE: 'worker',
      LOAN_REQUEST_TTL: '2s',
      LOAN_EXPIRY_SWEEP_MS: '3600000',
      REDIS_KEY_PREFIX: shared,
    });
    try {
      const db = worker.get(DataSource);
      const status = () =>
        db
          .query<{ status: string; closed_at: Date | null }[]>(`SELECT status, closed_at FROM loans WHERE id = $1`, [
            loan.id,
          ])
          .then((r) => r[0]);
      const expired = await eventually(status, (r) => r.status === 'EXPIRED');
      expect(expired.closed_at).not.toBeNull();
      const sms = await db.query<{ template: string; body: string }[]>(
        `SELECT template, body FROM notifications WHERE phone_number = $1 ORDER BY created_at`,
        [borrower.phoneNumber],
      );
      expect(sms.map((n) => n.template)).toEqual(expect.arrayContaining(['loan.declined', 'loan.expired']));
      expect(sms.find((n) => n.template === 'loan.expired')?.body).toContain('expired');
      // A declined request is not expired later.
      const [declined] = await db.query<{ status: string }[]>(`SELECT status FROM loans WHERE id = $1`, [
        declinedToo.id,
      ]);
      expect(declined.status).toBe('DECLINED');
      // An expired request can no longer be approved.
      await expect(worker.get(LoansService).approve(loan.id, lenderUser.id)).rejects.toMatchObject({
        code: 'LOAN.NOT_PENDING',
      });
    } finally {
      await worker.close();
    }
  });

  it('the sweep expires requests whose job was lost', async () => {
    const { app } = await startTestApp({ APP_ROLE: 'api' });
    try {
      const loans = app.get(LoansService);
      const borrower = await app.get(UsersService).findOrRegister(uniquePhone());
      const loan = await loans.requestLoan({
        borrowerId: borrower.id,
        lenderPhoneNumber: uniquePhone(),
        amount: 500,
        repaymentPerDeposit: 50,
      });
      const db = app.get(DataSource);
      expect(await loans.expire(loan.id)).toBe(false); // not due yet
      await db.query(`UPDATE loans SET expires_at = now() - interval '1 minute' WHERE id = $1`, [loan.id]);
      expect(await loans.expireDue()).toBeGreaterThanOrEqual(1);
      expect(
        (await db.query<{ status: string }[]>(`SELECT status FROM loans WHERE id = $1`, [loan.id]))[0].status,
      ).toBe('EXPIRED');
      expect(testConfig().loans.requestTtlMs).toBe(72 * 3_600_000);
    } finally {
      await app.close();
    }
  });
});
