import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import type { DepositResult } from '../src/loans/repayments.service.js';
import { LoansService } from '../src/loans/loans.service.js';
import { OnboardingService } from '../src/onboarding/onboarding.service.js';
import type { User } from '../src/users/user.entity.js';
import { SystemAccount } from '../src/wallet/account.entity.js';
import { LedgerService } from '../src/wallet/ledger.service.js';
import { WalletService } from '../src/wallet/wallet.service.js';
import { eventually } from './support/eventually.js';
import { ledgerViolations, moneySnapshot } from './support/invariants.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

/**
 * Deposits at scale (docs/money.md#m-pesa-clearing-spread-over-rows): no row that every deposit must lock. M-PESA
 * clearing, the other side of every deposit, is spread over rows, and deposits to wallets on
 * different rows never wait for each other; under many concurrent deposits with allocation every
 * invariant holds, and each deposit delivered again moves nothing.
 */
describe('deposits at scale', () => {
  let app: NestFastifyApplication;
  let db: DataSource;
  let onboarding: OnboardingService;
  let loans: LoansService;
  let ledger: LedgerService;
  let wallet: WalletService;

  beforeAll(async () => {
    ({ app } = await startTestApp({ APP_ROLE: 'api', DB_POOL_SIZE: '20', DB_CONNECT_TIMEOUT_MS: '60000' }));
    db = app.get(DataSource);
    onboarding = app.get(OnboardingService);
    loans = app.get(LoansService);
    ledger = app.get(LedgerService);
    wallet = app.get(WalletService);
  });
  afterAll(() => app.close());

  const user = () => onboarding.register(uniquePhone());
  const run = Date.now().toString(36);
  const clearingRowOf = async (u: User) => wallet.clearingAccountFor(await ledger.openWallet(db.manager, u.id));

  it('clearing is spread over rows, and a deposit to a wallet on another row does not wait for a locked one', async () => {
    const [{ rows }] = await db.query<{ rows: number }[]>(
      `SELECT count(*)::int AS rows FROM accounts WHERE code = $1`,
      [SystemAccount.MpesaClearing],
    );
    expect(rows).toBeGreaterThan(1);

    const blocked = await user();
    const lockedRow = await clearingRowOf(blocked);
    let free: User | undefined;
    for (let i = 0; i < 100 && !free; i += 1) {
      const candidate = await user();
      if ((await clearingRowOf(candidate)) !== lockedRow) free = candidate;
    }
    expect(free).toBeDefined();

    // Another transaction holds the blocked wallet's clearing row, as a long deposit would.
    const holder = db.createQueryRunner();
    await holder.connect();
    await holder.startTransaction();
    try {
      await holder.query(`SELECT id FROM accounts WHERE id = $1 FOR UPDATE`, [lockedRow]);
      let waited = false;
      const waiting = loans.receiveDeposit({ userId: blocked.id, amount: 300, reference: `${run}-blocked` });
      void waiting.then(() => (waited = true)).catch(() => undefined);
      // The deposit on the locked row waits for the lock...
      await eventually(
        () =>
          db.query<{ n: number }[]>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM accounts%FOR UPDATE%'`,
          ),
        ([{ n }]) => n === 1,
      );
      // ...while one on another row goes through, with the row still held.
      const through = await loans.receiveDeposit({ userId: free!.id, amount: 200, reference: `${run}-free` });
      expect(through).toMatchObject({ replayed: false, balance: 200 });
      expect(waited).toBe(false);
      await holder.rollbackTransaction();
      expect(await waiting).toMatchObject({ replayed: false, balance: 300 });
    } finally {
      if (holder.isTransactionActive) await holder.rollbackTransaction();
      await holder.release();
    }
    expect(await ledgerViolations(db)).toEqual([]);
  });

  it('many concurrent deposits for borrowers with 1–3 active loans each all succeed; every invariant holds; replaying each moves nothing', async () => {
    const BORROWERS = 30;
    const DEPOSITS_EACH = 4;
    const lenders = await Promise.all(Array.from({ length: 12 }, () => user()));
    await Promise.all(
      lenders.map((l, i) => loans.receiveDeposit({ userId: l.id, amount: 20_000, reference: `${run}-fund-${i}` })),
    );
    const borrowers = await Promise.all(Array.from({ length: BORROWERS }, () => user()));

    // Borrower i has 1 + i % 3 loans, from lenders shared with other borrowers; loan j lends
    // 500 + 100·j at 50 + 20·j per deposit.
    const loansOf = new Map<string, { id: string; principal: number; rate: number }[]>();
    await Promise.all(
      borrowers.map(async (b, i) => {
        const mine = [];
        for (let j = 0; j <= i % 3; j += 1) {
          const lender = lenders[(i * 3 + j) % lenders.length];
          const [principal, rate] = [500 + 100 * j, 50 + 20 * j];
          const loan = await loans.requestLoan({
            borrowerId: b.id,
            lenderPhoneNumber: lender.phoneNumber,
            amount: principal,
            repaymentPerDeposit: rate,
          });
          await loans.approve(loan.id, lender.id);
          mine.push({ id: loan.id, principal, rate });
        }
        loansOf.set(b.id, mine);
      }),
    );

    // Every deposit (at least 250) covers the rates of all of its borrower's loans (at most 210),
    // and four of them repay no loan in full: whatever order they land in, each pays every loan
    // its rate.
    const deposits = borrowers.flatMap((b, i) =>
      Array.from({ length: DEPOSITS_EACH }, (_, k) => ({
        userId: b.id,
        amount: 250 + 10 * ((i + k) % 7),
        reference: `${run}-dep-${i}-${k}`,
      })),
    );
    const settled = await Promise.allSettled(deposits.map((d) => loans.receiveDeposit(d)));
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
    const answers = settled.map((s) => (s as PromiseFulfilledResult<DepositResult>).value);
    expect(answers.every((a) => !a.replayed)).toBe(true);

    expect(await ledgerViolations(db)).toEqual([]);
    for (const b of borrowers) {
      const mine = loansOf.get(b.id)!;
      // The principals the loans paid in, the deposits, less each loan's rate per deposit.
      const lent = mine.reduce((s, l) => s + l.principal, 0);
      const rates = mine.reduce((s, l) => s + l.rate, 0);
      const paidIn = deposits.filter((d) => d.userId === b.id).reduce((s, d) => s + d.amount, 0);
      expect(await wallet.balance(b.id)).toBe(lent + paidIn - DEPOSITS_EACH * rates);
      for (const l of mine) {
        const [row] = await db.query<{ outstanding: string; status: string }[]>(
          `SELECT outstanding::text, status FROM loans WHERE id = $1`,
          [l.id],
        );
        expect(row).toEqual({ outstanding: String(l.principal - DEPOSITS_EACH * l.rate), status: 'ACTIVE' });
      }
    }

    // The deposits were spread: each wallet's on one clearing row, the wallets over several.
    const debited = await db.query<{ wallet: string; rows: number; row: string }[]>(
      `SELECT t.credit_account_id AS wallet, count(DISTINCT t.debit_account_id)::int AS rows, min(t.debit_account_id::text) AS row
         FROM transfers t WHERE t.idempotency_key = ANY($1) GROUP BY t.credit_account_id`,
      [deposits.map((d) => `deposit:${d.reference}`)],
    );
    expect(debited).toHaveLength(BORROWERS);
    expect(debited.every((d) => d.rows === 1)).toBe(true);
    expect(new Set(debited.map((d) => d.row)).size).toBeGreaterThan(1);

    // Each deposit delivered again, all at once: the first answer again, and nothing moves.
    const before = await moneySnapshot(db);
    const again = await Promise.all(deposits.map((d) => loans.receiveDeposit(d)));
    for (const [i, a] of again.entries()) {
      expect(a).toEqual({ ...answers[i], replayed: true, balance: a.balance });
    }
    expect(await moneySnapshot(db)).toEqual(before);
    expect(await ledgerViolations(db)).toEqual([]);
  }, 120_000);

  it('the invariants see money moved to or from clearing other than by a deposit or a settlement', async () => {
    const someone = await user();
    const walletId = await ledger.openWallet(db.manager, someone.id);
    const clearing = await wallet.clearingAccountFor(walletId);
    const runner = db.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      // A repayment out of clearing, with both balances kept in step: every row still adds up.
      await runner.query(
        `INSERT INTO transfers (idempotency_key, debit_account_id, credit_account_id, amount, kind)
         VALUES ($1, $2, $3, 40, 'loan_repayment')`,
        [`${run}-misplaced`, clearing, walletId],
      );
      await runner.query(
        `UPDATE accounts SET balance = balance + CASE WHEN id = $2 THEN 40 ELSE -40 END WHERE id IN ($1, $2)`,
        [clearing, walletId],
      );
      expect(await ledgerViolations(runner.manager)).toEqual([
        `transfer ${run}-misplaced (loan_repayment) moves mpesa_clearing → user_wallet`,
      ]);
      // A clearing row that drifts from its transfers shows on the row and on the account.
      await runner.query(`UPDATE accounts SET balance = balance - 5 WHERE id = $1`, [clearing]);
      const problems = await ledgerViolations(runner.manager);
      expect(problems).toEqual(
        expect.arrayContaining([
          expect.stringMatching(new RegExp(`^account ${clearing}: balance`)),
          expect.stringMatching(/^mpesa_clearing \(\d+ rows\) holds -?\d+ but its transfers sum to -?\d+$/),
        ]),
      );
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    expect(await ledgerViolations(db)).toEqual([]);
  });
});
