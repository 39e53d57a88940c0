import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { isDomainError } from '../src/common/domain-error.js';
import { LoansService } from '../src/loans/loans.service.js';
import { UsersService } from '../src/users/users.service.js';
import { ledgerViolations } from './support/invariants.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

/**
 * Races production will see at a request's deadline: the expiry job against the lender's approval,
 * and against the borrower's cancel. Whoever wins, there is one outcome: never a loan both expired
 * and disbursed, never two closings. The timing decides who wins, so the assertions hold for either.
 */
describe('races at a loan request deadline', () => {
  let app: NestFastifyApplication;
  let db: DataSource;
  let users: UsersService;
  let loans: LoansService;

  beforeAll(async () => {
    ({ app } = await startTestApp({ APP_ROLE: 'api' }));
    db = app.get(DataSource);
    users = app.get(UsersService);
    loans = app.get(LoansService);
  });
  afterAll(() => app.close());
  afterEach(async () => expect(await ledgerViolations(db)).toEqual([]));

  /** A funded request whose deadline is `ms` from now on the database's clock. */
  async function dueIn(ms: number) {
    const [b, l] = [await users.findOrRegister(uniquePhone()), await users.findOrRegister(uniquePhone())];
    await loans.receiveDeposit({ userId: l.id, amount: 1_000, reference: `F-${randomUUID()}` });
    const loan = await loans.requestLoan({
      borrowerId: b.id,
      lenderPhoneNumber: (await users.getById(l.id)).phoneNumber,
      amount: 1_000,
      repaymentPerDeposit: 100,
    });
    await db.query(`UPDATE loans SET expires_at = now() + make_interval(secs => $2::float / 1000) WHERE id = $1`, [
      loan.id,
      ms,
    ]);
    return { loan, borrowerId: b.id, lenderId: l.id };
  }

  const outcome = <T>(p: Promise<T>) =>
    p.then(
      (value) => ({ ok: true as const, value }),
      (e: unknown) => {
        if (!isDomainError(e)) throw e;
        return { ok: false as const, code: e.code };
      },
    );

  async function row(id: string) {
    const [r] = await db.query<{ status: string; disbursements: number }[]>(
      `SELECT l.status, (SELECT count(*)::int FROM transfers t WHERE t.loan_id = l.id AND t.kind = 'loan_disbursement') AS disbursements
         FROM loans l WHERE l.id = $1`,
      [id],
    );
    return r;
  }

  it('expiry against approval: either approved and disbursed once, or expired with nothing moved', async () => {
    for (let i = 0; i < 12; i += 1) {
      const { loan, lenderId } = await dueIn(15);
      await sleep(10 + (i % 4) * 3);
      const [approved, expired] = await Promise.all([
        outcome(loans.approve(loan.id, lenderId)),
        outcome(loans.expire(loan.id)),
      ]);
      const { status, disbursements } = await row(loan.id);
      const expiredIt = expired.ok && expired.value === true;
      // Never both. (Neither is possible: the job looked just before the deadline, the lender just
      // after; the request is then closed by the job's next run, below.)
      expect(approved.ok && expiredIt).toBe(false);
      if (approved.ok) {
        expect({ status, disbursements }).toEqual({ status: 'ACTIVE', disbursements: 1 });
      } else {
        expect(approved.code).toBe('LOAN.NOT_PENDING');
        // Refused because its time was up: the job closes it now if it had not yet.
        await loans.expire(loan.id);
        expect(await row(loan.id)).toEqual({ status: 'EXPIRED', disbursements: 0 });
      }
    }
  });

  it('expiry against cancel: one closing, never both', async () => {
    for (let i = 0; i < 12; i += 1) {
      const { loan, borrowerId } = await dueIn(15);
      await sleep(10 + (i % 4) * 3);
      const [cancelled, expired] = await Promise.all([
        outcome(loans.cancel(loan.id, borrowerId)),
        outcome(loans.expire(loan.id)),
      ]);
      const expiredIt = expired.ok && expired.value === true;
      expect(cancelled.ok && expiredIt).toBe(false);
      await loans.expire(loan.id); // whatever is left due
      const { status, disbursements } = await row(loan.id);
      expect(disbursements).toBe(0);
      expect(status).toBe(cancelled.ok ? 'CANCELLED' : 'EXPIRED');
      if (!cancelled.ok) expect(cancelled.code).toBe('LOAN.NOT_PENDING');
    }
  });
});
