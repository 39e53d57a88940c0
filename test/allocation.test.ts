import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import fc from 'fast-check';
import { DataSource } from 'typeorm';
import { LoansService } from '../src/loans/loans.service.js';
import { UsersService } from '../src/users/users.service.js';
import { ADMIN_KEY, ApiClient } from './support/api-client.js';
import { ledgerViolations } from './support/invariants.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

/**
 * The product's central rule (docs/money.md#debt-allocation), checked end to end and independently
 * of src/loans/allocation.ts: a deposit of D into a borrower's wallet pays each ACTIVE loan, oldest
 * APPROVAL first (not oldest request), while money remains, x = min(repayment per deposit,
 * outstanding, remaining). Expected payouts are written out by hand from that rule; the property
 * test at the end compares the service with a model of the rule written here.
 */
describe('debt allocation, end to end', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let db: DataSource;
  let users: UsersService;
  let loans: LoansService;

  beforeAll(async () => {
    ({ app } = await startTestApp({ ADMIN_API_KEY: ADMIN_KEY, APP_ROLE: 'api' }));
    api = new ApiClient(app);
    db = app.get(DataSource);
    users = app.get(UsersService);
    loans = app.get(LoansService);
  });
  afterAll(() => app.close());
  afterEach(async () => expect(await ledgerViolations(db)).toEqual([]));

  /** A funded lender's loan request to the borrower, not approved yet. */
  async function requested(borrowerId: string, principal: number, rate: number) {
    const lender = uniquePhone();
    const l = await users.findOrRegister(lender);
    await loans.receiveDeposit({ userId: l.id, amount: principal, reference: `FUND-${randomUUID()}` });
    const loan = await loans.requestLoan({
      borrowerId,
      lenderPhoneNumber: lender,
      amount: principal,
      repaymentPerDeposit: rate,
    });
    return { loan, lenderId: l.id };
  }

  /** A deposit into the borrower's wallet through the operator's REST route. */
  async function deposit(phoneNumber: string, amount: number) {
    const res = await api.call<{ deducted: number; balance: number }>('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber, amount, reference: `DEP-${randomUUID()}` },
    });
    expect(res.status).toBe(201);
    return res.body;
  }

  async function state(loanId: string) {
    const [row] = await db.query<{ outstanding: string; status: string }[]>(
      `SELECT outstanding, status FROM loans WHERE id = $1`,
      [loanId],
    );
    return { outstanding: Number(row.outstanding), status: row.status };
  }

  async function balance(userId: string) {
    const rows = await db.query<{ balance: string }[]>(`SELECT balance FROM accounts WHERE user_id = $1`, [userId]);
    return Number(rows[0]?.balance ?? 0);
  }

  it('two loans: oldest approval first, with deposits below, equal to and above the sum of the rates', async () => {
    const phone = uniquePhone();
    const b = await users.findOrRegister(phone);
    // X is requested first but approved second: Y is the older approval and is paid first.
    const x = await requested(b.id, 1_000, 300);
    const y = await requested(b.id, 2_000, 500);
    await loans.approve(y.loan.id, y.lenderId);
    await loans.approve(x.loan.id, x.lenderId);

    // 600 < 800: Y takes its 500, X the 100 left.
    expect(await deposit(phone, 600)).toMatchObject({ deducted: 600, balance: 3_000 });
    expect(await state(y.loan.id)).toEqual({ outstanding: 1_500, status: 'ACTIVE' });
    expect(await state(x.loan.id)).toEqual({ outstanding: 900, status: 'ACTIVE' });

    // 800 = 500 + 300: each its rate.
    expect(await deposit(phone, 800)).toMatchObject({ deducted: 800, balance: 3_000 });
    expect(await state(y.loan.id)).toEqual({ outstanding: 1_000, status: 'ACTIVE' });
    expect(await state(x.loan.id)).toEqual({ outstanding: 600, status: 'ACTIVE' });

    // 1000 > 800: each its rate, 200 stays with the borrower.
    expect(await deposit(phone, 1_000)).toMatchObject({ deducted: 800, balance: 3_200 });
    expect(await state(y.loan.id)).toEqual({ outstanding: 500, status: 'ACTIVE' });
    expect(await state(x.loan.id)).toEqual({ outstanding: 300, status: 'ACTIVE' });

    // The lenders lent all they had and got back what was allocated to them.
    expect(await balance(y.lenderId)).toBe(500 + 500 + 500);
    expect(await balance(x.lenderId)).toBe(100 + 300 + 300);
  });

  it('three loans: a share is capped by what a loan still owes, and a loan repaid drops out', async () => {
    const phone = uniquePhone();
    const b = await users.findOrRegister(phone);
    const p = await requested(b.id, 450, 200);
    const q = await requested(b.id, 1_000, 400);
    const r = await requested(b.id, 900, 300);
    // Approval order Q, R, P (the reverse of nothing in particular: not the request order).
    await loans.approve(q.loan.id, q.lenderId);
    await loans.approve(r.loan.id, r.lenderId);
    await loans.approve(p.loan.id, p.lenderId);
    const lent = 450 + 1_000 + 900;

    // 250 < 900: all to Q, the oldest approval.
    expect(await deposit(phone, 250)).toMatchObject({ deducted: 250, balance: lent });
    expect(await state(q.loan.id)).toEqual({ outstanding: 750, status: 'ACTIVE' });
    expect(await state(r.loan.id)).toEqual({ outstanding: 900, status: 'ACTIVE' });
    expect(await state(p.loan.id)).toEqual({ outstanding: 450, status: 'ACTIVE' });

    // 900 = 400 + 300 + 200.
    expect(await deposit(phone, 900)).toMatchObject({ deducted: 900, balance: lent });
    expect(await state(q.loan.id)).toEqual({ outstanding: 350, status: 'ACTIVE' });
    expect(await state(r.loan.id)).toEqual({ outstanding: 600, status: 'ACTIVE' });
    expect(await state(p.loan.id)).toEqual({ outstanding: 250, status: 'ACTIVE' });

    // 2000: Q takes only the 350 it still owes (repaid), R 300, P 200; 1150 stays.
    expect(await deposit(phone, 2_000)).toMatchObject({ deducted: 850, balance: lent + 1_150 });
    expect(await state(q.loan.id)).toEqual({ outstanding: 0, status: 'REPAID' });
    expect(await state(r.loan.id)).toEqual({ outstanding: 300, status: 'ACTIVE' });
    expect(await state(p.loan.id)).toEqual({ outstanding: 50, status: 'ACTIVE' });

    // 500: Q is out; R its last 300, P its last 50; both repaid, 150 stays.
    expect(await deposit(phone, 500)).toMatchObject({ deducted: 350, balance: lent + 1_150 + 150 });
    expect(await state(r.loan.id)).toEqual({ outstanding: 0, status: 'REPAID' });
    expect(await state(p.loan.id)).toEqual({ outstanding: 0, status: 'REPAID' });

    expect(await balance(q.lenderId)).toBe(1_000);
    expect(await balance(r.lenderId)).toBe(900);
    expect(await balance(p.lenderId)).toBe(450);
  });

  it('matches a model of the rule over random histories of approvals and deposits', async () => {
    /** The rule, as written in docs/money.md, over loans in approval order. */
    function model(depositAmount: number, owed: { rate: number; outstanding: number }[]): number[] {
      let remaining = depositAmount;
      return owed.map((loan) => {
        const x = Math.min(loan.rate, loan.outstanding, remaining);
        remaining -= x;
        return x;
      });
    }

    const history = fc.record({
      loans: fc.array(
        fc
          .integer({ min: 100, max: 5_000 })
          .chain((principal) =>
            fc.record({ principal: fc.constant(principal), rate: fc.integer({ min: 10, max: principal }) }),
          ),
        { minLength: 1, maxLength: 3 },
      ),
      approvalOrder: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
      deposits: fc.array(fc.integer({ min: 1, max: 6_000 }), { minLength: 1, maxLength: 5 }),
    });

    await fc.assert(
      fc.asyncProperty(history, async ({ loans: specs, approvalOrder, deposits }) => {
        const phone = uniquePhone();
        const b = await users.findOrRegister(phone);
        const made = [];
        for (const spec of specs) made.push({ ...spec, ...(await requested(b.id, spec.principal, spec.rate)) });
        // Approve in a random order (a permutation chosen by the generated keys).
        const order = made
          .map((loan, i) => ({ loan, key: approvalOrder[i] }))
          .sort((a, b) => a.key - b.key)
          .map(({ loan }) => loan);
        for (const loan of order) await loans.approve(loan.loan.id, loan.lenderId);

        const owed = order.map((l) => ({ id: l.loan.id, rate: l.rate, outstanding: l.principal }));
        let wallet = specs.reduce((s, l) => s + l.principal, 0);
        for (const amount of deposits) {
          const shares = model(amount, owed);
          shares.forEach((x, i) => (owed[i].outstanding -= x));
          const deducted = shares.reduce((s, x) => s + x, 0);
          wallet += amount - deducted;
          expect(await deposit(phone, amount)).toMatchObject({ deducted, balance: wallet });
        }
        for (const loan of owed) {
          expect(await state(loan.id)).toEqual({
            outstanding: loan.outstanding,
            status: loan.outstanding === 0 ? 'REPAID' : 'ACTIVE',
          });
        }
      }),
      { numRuns: 8 },
    );
  });
});
