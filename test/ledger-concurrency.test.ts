import fc from 'fast-check';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { isDomainError } from '../src/common/domain-error.js';
import { TransactionService } from '../src/database/transaction.service.js';
import { LoansService } from '../src/loans/loans.service.js';
import { OnboardingService } from '../src/onboarding/onboarding.service.js';
import { SystemAccount } from '../src/wallet/account.entity.js';
import { LedgerService } from '../src/wallet/ledger.service.js';
import { WalletService } from '../src/wallet/wallet.service.js';
import { ledgerViolations } from './support/invariants.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

type Outcome = { ok: true } | { ok: false; code: string };

describe('ledger and loans under concurrency (real PostgreSQL)', () => {
  let app: NestFastifyApplication;
  let db: DataSource;
  let onboarding: OnboardingService;
  let loans: LoansService;
  let ledger: LedgerService;
  let wallet: WalletService;
  let transactions: TransactionService;

  beforeAll(async () => {
    ({ app } = await startTestApp({ APP_ROLE: 'api', DB_POOL_SIZE: '20', DB_CONNECT_TIMEOUT_MS: '60000' }));
    db = app.get(DataSource);
    onboarding = app.get(OnboardingService);
    loans = app.get(LoansService);
    ledger = app.get(LedgerService);
    wallet = app.get(WalletService);
    transactions = app.get(TransactionService);
  });
  afterAll(() => app.close());

  /** Runs an operation and records how it ended; anything but a domain error fails the test. */
  async function attempt(op: () => Promise<unknown>): Promise<Outcome> {
    try {
      await op();
      return { ok: true };
    } catch (e) {
      if (isDomainError(e)) return { ok: false, code: e.code };
      throw e;
    }
  }

  // Subscribers as first contact makes them: registered with a wallet (onboarding).
  const user = (phone = uniquePhone()) => onboarding.register(phone);
  const deposit = (userId: string, amount: number, reference: string) =>
    loans.receiveDeposit({ userId, amount, reference });

  it('keeps every invariant through 300+ concurrent deposits, approvals, repayments and replays', async () => {
    const borrower = await user();
    const lenders = await Promise.all([user(), user(), user()]);
    const run = Date.now().toString(36);
    await Promise.all(lenders.map((l, i) => deposit(l.id, 5000, `${run}-seed-${i}`)));
    const requests = await Promise.all(
      [
        [2000, 300],
        [1500, 200],
        [1000, 500],
      ].map(([amount, r], i) =>
        loans.requestLoan({
          borrowerId: borrower.id,
          lenderPhoneNumber: lenders[i].phoneNumber,
          amount,
          repaymentPerDeposit: r,
        }),
      ),
    );
    // A second borrower competes for the first lender's money.
    const other = await user();
    const competing = await loans.requestLoan({
      borrowerId: other.id,
      lenderPhoneNumber: lenders[0].phoneNumber,
      amount: 4000,
      repaymentPerDeposit: 100,
    });

    const ops: (() => Promise<unknown>)[] = [];
    // The same approval several times at once, and two lenders approving at once.
    for (const [i, loan] of requests.entries())
      for (let k = 0; k < 4; k += 1) ops.push(() => loans.approve(loan.id, lenders[i].id));
    for (let k = 0; k < 3; k += 1) ops.push(() => loans.approve(competing.id, lenders[0].id));
    // 150 deposits to the borrower while loans activate.
    for (let k = 0; k < 150; k += 1) ops.push(() => deposit(borrower.id, 1 + ((k * 37) % 700), `${run}-dep-${k}`));
    // The same M-PESA receipt delivered by 40 callers.
    for (let k = 0; k < 40; k += 1) ops.push(() => deposit(borrower.id, 450, `${run}-same-receipt`));
    // A receipt reused with a different amount: a conflict, not a second credit.
    for (let k = 0; k < 5; k += 1) ops.push(() => deposit(borrower.id, 999, `${run}-same-receipt`));
    // Repayments chosen by the borrower, some too large, each sent twice with the same key (k and
    // k + 30: the same loan, since 30 is a multiple of 3, and the same amount, since it is of 5).
    const repayments = new Map<number, { loanId: string; key: string }>();
    for (let k = 0; k < 60; k += 1) {
      const loan = requests[k % 3];
      const key = `${run}-repay-${k % 30}`;
      repayments.set(ops.length, { loanId: loan.id, key });
      ops.push(() => loans.repay(loan.id, borrower.id, 50 + (k % 5) * 100, key));
    }
    // The same idempotency key from many callers, straight at the ledger.
    const [bw, clearing] = await Promise.all([
      ledger.openWallet(db.manager, other.id),
      ledger.systemAccountId(SystemAccount.MpesaClearing),
    ]);
    for (let k = 0; k < 30; k += 1) {
      ops.push(() =>
        transactions.run((tx) =>
          ledger.transfer(tx, {
            idempotencyKey: `${run}-direct`,
            debitAccountId: clearing,
            creditAccountId: bw,
            amount: 77,
            kind: 'deposit',
          }),
        ),
      );
    }
    // Withdrawals racing deposits on the other borrower's wallet.
    for (let k = 0; k < 10; k += 1)
      ops.push(() => wallet.holdWithdrawal({ userId: other.id, amount: 30, withdrawalId: `${run}-w-${k}` }));
    expect(ops.length).toBeGreaterThanOrEqual(300);

    const outcomes = await Promise.all(ops.map((op) => attempt(op)));
    const codes = outcomes.flatMap((o) => (o.ok ? [] : [o.code]));
    const allowed = new Set([
      'LOAN.NOT_PENDING',
      'LOAN.NOT_ACTIVE',
      'WALLET.INSUFFICIENT_FUNDS',
      'LOAN.REPAYMENT_EXCEEDS_OUTSTANDING',
      'LEDGER.IDEMPOTENCY_CONFLICT',
    ]);
    expect(codes.filter((c) => !allowed.has(c))).toEqual([]);

    expect(await ledgerViolations(db)).toEqual([]);

    // Each approval happened once; the same receipt credited once; the direct key moved 77 once.
    const status = async (id: string) =>
      (await db.query<{ status: string }[]>(`SELECT status FROM loans WHERE id = $1`, [id]))[0].status;
    const approved = async (id: string) => ['ACTIVE', 'REPAID'].includes(await status(id));
    expect(await approved(requests[1].id)).toBe(true);
    expect(await approved(requests[2].id)).toBe(true);
    // Lender 0 started with 5000 for 2000 + 4000: the second approval could only succeed once
    // repayments had refilled the wallet; the invariants above show no wallet went negative.
    expect(
      [await approved(requests[0].id), await approved(competing.id)].filter(Boolean).length,
    ).toBeGreaterThanOrEqual(1);
    const [{ n: receiptCredits }] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM transfers WHERE idempotency_key = $1`,
      [`deposit:${run}-same-receipt`],
    );
    expect(receiptCredits).toBe(1);
    expect(outcomes.slice(-40, -10).filter((o) => o.ok).length).toBe(30); // every direct caller got the original transfer
    expect(codes.filter((c) => c === 'LEDGER.IDEMPOTENCY_CONFLICT').length).toBe(5);

    // Each repayment key moved money once when either of its two calls succeeded, never otherwise.
    const okByKey = new Map<string, number>();
    for (const [i, { key }] of repayments) okByKey.set(key, (okByKey.get(key) ?? 0) + (outcomes[i].ok ? 1 : 0));
    for (const [key, oks] of okByKey) {
      const { loanId } = [...repayments.values()].find((r) => r.key === key)!;
      const [{ n }] = await db.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM transfers WHERE idempotency_key = $1`,
        [`repayment:${loanId}:${key}`],
      );
      expect({ key, moved: n }).toEqual({ key, moved: oks > 0 ? 1 : 0 });
    }
    // Some pairs were genuinely replayed (both calls answered), or the replay went untested.
    expect([...okByKey.values()].filter((oks) => oks === 2).length).toBeGreaterThan(0);
  });

  it('keeps the invariants for random concurrent workloads (property)', async () => {
    const op = fc.oneof(
      fc.record({
        t: fc.constant('deposit' as const),
        who: fc.nat(3),
        amount: fc.integer({ min: 1, max: 3000 }),
        ref: fc.nat(25),
      }),
      fc.record({ t: fc.constant('approve' as const), loan: fc.nat(5) }),
      fc.record({ t: fc.constant('decline' as const), loan: fc.nat(5) }),
      fc.record({
        t: fc.constant('repay' as const),
        loan: fc.nat(5),
        amount: fc.integer({ min: 1, max: 2000 }),
        key: fc.nat(10),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 70 }), fc.nat(1_000_000), async (workload, salt) => {
        const people = await Promise.all([user(), user(), user(), user()]);
        const tag = `${Date.now().toString(36)}-${salt}`;
        await Promise.all(people.map((p, i) => deposit(p.id, 2000, `${tag}-seed-${i}`)));
        const created = await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            loans.requestLoan({
              borrowerId: people[i % 4].id,
              lenderPhoneNumber: people[(i + 1 + (i >> 2)) % 4].phoneNumber,
              amount: 500 + i * 250,
              repaymentPerDeposit: 100 + i * 40,
            }),
          ),
        );
        await Promise.all(
          workload.map((w) =>
            attempt(() => {
              switch (w.t) {
                case 'deposit':
                  return deposit(people[w.who].id, w.amount, `${tag}-d-${w.ref}-${w.amount}`);
                case 'approve':
                  return loans.approve(created[w.loan].id, created[w.loan].lenderId);
                case 'decline':
                  return loans.decline(created[w.loan].id, created[w.loan].lenderId);
                case 'repay':
                  return loans.repay(created[w.loan].id, created[w.loan].borrowerId, w.amount, `${tag}-r-${w.key}`);
              }
            }),
          ),
        );
        expect(await ledgerViolations(db)).toEqual([]);
      }),
      { numRuns: 6 },
    );
  });

  it('the database itself refuses a negative wallet, whatever the code does', async () => {
    const someone = await user();
    await expect(db.query(`UPDATE accounts SET balance = -1 WHERE user_id = $1`, [someone.id])).rejects.toThrow(
      /CHK_accounts_wallet_not_negative/,
    );
    await expect(
      db.query(
        `INSERT INTO transfers (idempotency_key, debit_account_id, credit_account_id, amount, kind) SELECT 'x-zero', id, id, 0, 'deposit' FROM accounts LIMIT 1`,
      ),
    ).rejects.toThrow(/CHK_transfers/);
  });

  it('withdrawals: hold, then exactly one of settle or release', async () => {
    const someone = await user();
    await deposit(someone.id, 1000, `w-${someone.id}`);
    await wallet.holdWithdrawal({ userId: someone.id, amount: 600, withdrawalId: `w1-${someone.id}` });
    expect(await wallet.balance(someone.id)).toBe(400);
    expect(
      await attempt(() => wallet.holdWithdrawal({ userId: someone.id, amount: 600, withdrawalId: `w2-${someone.id}` })),
    ).toEqual({
      ok: false,
      code: 'WALLET.INSUFFICIENT_FUNDS',
    });
    const outcomes = await Promise.all([
      attempt(() => wallet.releaseWithdrawal(`w1-${someone.id}`)),
      attempt(() => wallet.settleWithdrawal(`w1-${someone.id}`)),
      attempt(() => wallet.releaseWithdrawal(`w1-${someone.id}`)),
    ]);
    // Exactly one of settle or release closed the hold: a second release is the same operation
    // replayed (answered again, nothing moves), a settle after a release, or the reverse, is refused.
    const kinds = ['release', 'settle', 'release'] as const;
    const won = new Set(outcomes.flatMap((o, i) => (o.ok ? [kinds[i]] : [])));
    expect(won.size).toBe(1);
    const settled = won.has('settle');
    expect(outcomes.map((o) => (o.ok ? 'ok' : o.code))).toEqual(
      settled
        ? ['WITHDRAWAL.ALREADY_CLOSED', 'ok', 'WITHDRAWAL.ALREADY_CLOSED']
        : ['ok', 'WITHDRAWAL.ALREADY_CLOSED', 'ok'],
    );
    // Settled: the 600 left for M-PESA; released: it came back. One outcome moved money, once.
    expect(await wallet.balance(someone.id)).toBe(settled ? 400 : 1000);
    const [{ n }] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM transfers WHERE idempotency_key LIKE $1 AND kind IN ('withdrawal_settle', 'withdrawal_release')`,
      [`withdrawal:w1-${someone.id}:%`],
    );
    expect(n).toBe(1);
    expect(await attempt(() => wallet.settleWithdrawal('never-held'))).toEqual({
      ok: false,
      code: 'WITHDRAWAL.NOT_FOUND',
    });
    expect(await ledgerViolations(db)).toEqual([]);
  });
});
