import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { DomainError } from '../src/common/domain-error.js';
import { AppModule } from '../src/app.module.js';
import type { AppConfig } from '../src/config/app-config.js';
import { TransactionService } from '../src/database/transaction.service.js';
import { LoansService } from '../src/loans/loans.service.js';
import { MpesaPayment } from '../src/mpesa/mpesa-payment.entity.js';
import { WithdrawalService } from '../src/mpesa/withdrawal.service.js';
import { WithdrawalStatusService } from '../src/mpesa/withdrawal-status.service.js';
import { PaybillService } from '../src/mpesa/paybill.service.js';
import { PaymentReviewService } from '../src/mpesa/payment-review.service.js';
import type { User } from '../src/users/user.entity.js';
import { UsersService } from '../src/users/users.service.js';
import { UssdSnapshotStore } from '../src/ussd/offline/snapshot.store.js';
import { SystemAccount } from '../src/wallet/account.entity.js';
import { LedgerService } from '../src/wallet/ledger.service.js';
import { WalletService } from '../src/wallet/wallet.service.js';
import { ledgerViolations } from './support/invariants.js';
import { ownRedisPrefix, testConfig, uniquePhone } from './support/test-app.js';
import { startTestSimulators, type TestSimulators } from './support/simulators.js';

/**
 * The money core through real PostgreSQL: the ledger (docs/money.md), the wallet's deposits and
 * two-phase withdrawals, the loan lifecycle with allocation, and the M-PESA code that credits a
 * paybill payment or settles or releases a withdrawal (also when M-PESA's answers disagree, come
 * late or race each other or an operator). Fast enough to run once per mutant
 * (`npm run test:mutation`), and part of the ordinary suite. Every expected value is written out
 * from the rules in docs/money.md and docs/mpesa.md (DESIGN §4), never computed by the code under test.
 */
describe('the money core', () => {
  let app: INestApplicationContext;
  let db: DataSource;
  let ledger: LedgerService;
  let wallet: WalletService;
  let loans: LoansService;
  let users: UsersService;
  let tx: TransactionService;
  let config: AppConfig;
  let simulators: TestSimulators;

  beforeAll(async () => {
    // Daraja is always another process: the tests' own simulators, as startTestApp gives its apps.
    simulators = await startTestSimulators();
    // The application's own module graph (AppModule, as createApp builds it) without the HTTP
    // server: these tests call services, and a mutation run starts this once per mutant.
    config = testConfig({
      APP_ROLE: 'api',
      MPESA_C2B_VERIFY: 'false',
      REDIS_KEY_PREFIX: ownRedisPrefix(),
      MPESA_BASE_URL: simulators.url,
      AT_BASE_URL: simulators.url,
    });
    app = await NestFactory.createApplicationContext(AppModule.forRoot(config), { logger: false });
    await app.init();
    db = app.get(DataSource);
    ledger = app.get(LedgerService);
    wallet = app.get(WalletService);
    loans = app.get(LoansService);
    users = app.get(UsersService);
    tx = app.get(TransactionService);
  });
  afterAll(async () => {
    await app?.close();
    await simulators?.close();
  });
  afterEach(() => guarded(async () => expect(await ledgerViolations(db)).toEqual([])));

  /**
   * In a mutation run (scripts/mutation.ts sets DENI_MUTATION) the first failure ends the file:
   * the mutant is caught, and the tests after it would only spend a minute saying so again. Jest's
   * own bail stops after a failing file, not a failing test.
   */
  let failed = false;
  async function guarded(fn: () => Promise<unknown>): Promise<void> {
    if (failed) throw new Error('not run: an earlier test of this file failed (DENI_MUTATION)');
    try {
      await fn();
    } catch (e) {
      if (process.env.DENI_MUTATION) failed = true;
      throw e;
    }
  }
  const check = (name: string, fn: () => Promise<unknown>) => it(name, () => guarded(fn));

  const user = (): Promise<User> => users.findOrRegister(uniquePhone());
  const ref = (tag: string) => `${tag}-${randomUUID()}`;
  /** A user with `amount` in their wallet, paid in as an operator's deposit. */
  async function funded(amount: number): Promise<User> {
    const u = await user();
    await loans.receiveDeposit({ userId: u.id, amount, reference: ref('FUND') });
    return u;
  }
  /** The error code a promise fails with ('' when it succeeds). */
  async function codeOf(p: Promise<unknown>): Promise<string> {
    try {
      await p;
      return '';
    } catch (e) {
      return e instanceof DomainError ? e.code : `not a domain error: ${(e as Error).message}`;
    }
  }
  async function accountBalance(id: string): Promise<number> {
    const [row] = await db.query<{ balance: string }[]>('SELECT balance FROM accounts WHERE id = $1', [id]);
    return Number(row.balance);
  }
  /** M-PESA clearing's first row, where withdrawals settle (deposits debit the row of their wallet). */
  const clearingId = async () =>
    (
      await db.query<{ id: string }[]>(`SELECT id FROM accounts WHERE code = $1 AND shard = 0`, [
        SystemAccount.MpesaClearing,
      ])
    )[0].id;
  const pendingId = async () =>
    (await db.query<{ id: string }[]>(`SELECT id FROM accounts WHERE code = $1`, [SystemAccount.WithdrawalsPending]))[0]
      .id;
  async function sms(phoneNumber: string, template: string): Promise<string[]> {
    const rows = await db.query<{ body: string }[]>(
      `SELECT body FROM notifications WHERE phone_number = $1 AND template = $2 ORDER BY created_at, id`,
      [phoneNumber, template],
    );
    return rows.map((r) => r.body);
  }
  /** The number as screens and SMS show it: 0712 345 678. */
  const local = (msisdn: string) => `0${msisdn.slice(3, 6)} ${msisdn.slice(6, 9)} ${msisdn.slice(9)}`;
  async function loanRow(id: string) {
    const [row] = await db.query<
      { status: string; outstanding: string; approved_at: Date | null; closed_at: Date | null; expires_at: Date }[]
    >('SELECT status, outstanding, approved_at, closed_at, expires_at FROM loans WHERE id = $1', [id]);
    return { ...row, outstanding: Number(row.outstanding) };
  }

  // ------------------------------------------------------------------------------------ ledger

  describe('ledger', () => {
    check('moves an amount from one account to another once per key, and replays the same content', async () => {
      const [a, b] = [await funded(1_000), await user()];
      const [wa, wb] = [await ledger.openWallet(db.manager, a.id), await ledger.openWallet(db.manager, b.id)];
      const request = {
        idempotencyKey: ref('t'),
        debitAccountId: wa,
        creditAccountId: wb,
        amount: 400,
        kind: 'loan_repayment' as const,
      };
      const first = await tx.run((t) => ledger.transfer(t, request));
      // Moved now, with the balances just after it, from the rule: 1,000 − 400 and 0 + 400.
      expect(first).toMatchObject({ replayed: false, balances: { debit: 600, credit: 400 } });
      expect(first.transfer).toMatchObject({
        debitAccountId: wa,
        creditAccountId: wb,
        amount: 400,
        kind: 'loan_repayment',
        loanId: null,
      });
      expect([await ledger.balanceOf(wa), await ledger.balanceOf(wb)]).toEqual([600, 400]);
      const again = await tx.run((t) => ledger.transfer(t, request));
      expect([again.replayed, again.transfer.id, 'balances' in again]).toEqual([true, first.transfer.id, false]);
      expect(again.transfer).toMatchObject({ seq: first.transfer.seq, createdAt: first.transfer.createdAt });
      expect([await ledger.walletBalance(a.id), await ledger.walletBalance(b.id)]).toEqual([600, 400]);
      expect((await ledger.findByKey(request.idempotencyKey))?.id).toBe(first.transfer.id);
    });

    check('refuses the same key with any other content, field by field', async () => {
      const [a, b, c] = [await funded(1_000), await user(), await user()];
      const [wa, wb, wc] = await Promise.all([a, b, c].map((u) => ledger.openWallet(db.manager, u.id)));
      const loan = await activeLoan(a, b, 100, 10);
      const base = {
        idempotencyKey: ref('t'),
        debitAccountId: wa,
        creditAccountId: wb,
        amount: 50,
        kind: 'deposit' as const,
        loanId: loan.id,
      };
      await tx.run((t) => ledger.transfer(t, base));
      for (const other of [
        { amount: 51 },
        { debitAccountId: wc },
        { creditAccountId: wc },
        { kind: 'withdrawal_hold' as const },
        { loanId: null },
      ]) {
        expect(await codeOf(tx.run((t) => ledger.transfer(t, { ...base, ...other })))).toBe(
          'LEDGER.IDEMPOTENCY_CONFLICT',
        );
      }
      expect(await ledger.walletBalance(b.id)).toBe(150);
    });

    check('never overdraws a user wallet, but lets it reach exactly zero', async () => {
      const [a, b] = [await funded(300), await user()];
      const [wa, wb] = [await ledger.openWallet(db.manager, a.id), await ledger.openWallet(db.manager, b.id)];
      const move = (amount: number) =>
        tx.run((t) =>
          ledger.transfer(t, {
            idempotencyKey: ref('t'),
            debitAccountId: wa,
            creditAccountId: wb,
            amount,
            kind: 'loan_repayment',
          }),
        );
      let error: unknown;
      await move(301).catch((e: unknown) => (error = e));
      expect(error).toMatchObject({ code: 'WALLET.INSUFFICIENT_FUNDS', details: { balance: 300, needed: 301 } });
      expect((await move(300)).replayed).toBe(false);
      expect([await ledger.walletBalance(a.id), await ledger.walletBalance(b.id)]).toEqual([0, 300]);
    });

    check('answers a transfer asked again after the money was spent with the transfer made then', async () => {
      const [a, b] = [await funded(300), await user()];
      const [wa, wb] = await ledger.openWallets(db.manager, [a.id, b.id]);
      const request = {
        idempotencyKey: ref('t'),
        debitAccountId: wa,
        creditAccountId: wb,
        amount: 300,
        kind: 'loan_repayment' as const,
      };
      const first = await tx.run((t) => ledger.transfer(t, request));
      expect(first).toMatchObject({ replayed: false, balances: { debit: 0, credit: 300 } });
      // The wallet is empty now: the same request is the transfer made, another content a conflict
      // (not a shortage), and a new key a shortage.
      const again = await tx.run((t) => ledger.transfer(t, request));
      expect([again.replayed, again.transfer.id]).toEqual([true, first.transfer.id]);
      expect(await codeOf(tx.run((t) => ledger.transfer(t, { ...request, amount: 200 })))).toBe(
        'LEDGER.IDEMPOTENCY_CONFLICT',
      );
      expect(await codeOf(tx.run((t) => ledger.transfer(t, { ...request, idempotencyKey: ref('t') })))).toBe(
        'WALLET.INSUFFICIENT_FUNDS',
      );
      expect([await ledger.walletBalance(a.id), await ledger.walletBalance(b.id)]).toEqual([0, 300]);
    });

    check(
      'refuses a transfer to the same account, a missing account, and amounts that are not whole shillings above 0',
      async () => {
        const a = await funded(100);
        const wa = await ledger.openWallet(db.manager, a.id);
        const move = (over: object) =>
          tx.run((t) =>
            ledger.transfer(t, {
              idempotencyKey: ref('t'),
              debitAccountId: wa,
              creditAccountId: randomUUID(),
              amount: 10,
              kind: 'loan_repayment',
              ...over,
            }),
          );
        expect(await codeOf(move({ creditAccountId: wa }))).toBe('LEDGER.SAME_ACCOUNT');
        expect(await codeOf(move({}))).toBe('LEDGER.ACCOUNT_NOT_FOUND');
        for (const amount of [0, -5, 1.5]) expect(await codeOf(move({ amount }))).toBe('AMOUNT.INVALID');
        expect(await codeOf(ledger.balanceOf(randomUUID()))).toBe('LEDGER.ACCOUNT_NOT_FOUND');
        expect(await codeOf(tx.run((t) => ledger.lockAccounts(t, [wa, randomUUID()])))).toBe(
          'LEDGER.ACCOUNT_NOT_FOUND',
        );
        expect(await ledger.walletBalance(a.id)).toBe(100);
      },
    );

    check('locks each account once, and knows its kind and balance', async () => {
      const a = await funded(700);
      const wa = await ledger.openWallet(db.manager, a.id);
      const clearing = await clearingId();
      const locked = await tx.run((t) => ledger.lockAccounts(t, [wa, clearing, wa]));
      expect([...locked.keys()].sort()).toEqual([wa, clearing].sort());
      expect(locked.get(wa)).toEqual({ id: wa, kind: 'user_wallet', balance: 700 });
      expect(locked.get(clearing)?.kind).not.toBe('user_wallet');
    });

    check('knows system accounts, opens one wallet per user, and an id without one has 0', async () => {
      expect(await ledger.systemAccountId(SystemAccount.MpesaClearing)).toBe(await clearingId());
      expect(await ledger.systemAccountId(SystemAccount.WithdrawalsPending)).toBe(await pendingId());
      expect(await ledger.systemAccountId(SystemAccount.MpesaClearing)).toBe(await clearingId());
      await expect(ledger.systemAccountId('no_such_account' as SystemAccount)).rejects.toThrow(
        /no_such_account is missing/,
      );
      // Registration opens a wallet; an id that is nobody's has none.
      const nobody = randomUUID();
      expect(await ledger.findWalletId(nobody)).toBeNull();
      expect(await ledger.walletBalance(nobody)).toBe(0);
      const u = await user();
      const id = await ledger.openWallet(db.manager, u.id);
      expect(await ledger.openWallet(db.manager, u.id)).toBe(id);
      expect(await ledger.findWalletId(u.id)).toBe(id);
      // Several at once, in the order asked, opening those that have none (once each).
      const [v, w] = [await user(), await user()];
      const opened = await ledger.openWallets(db.manager, [v.id, u.id, w.id, v.id]);
      expect(opened).toEqual([await ledger.findWalletId(v.id), id, await ledger.findWalletId(w.id), opened[0]]);
      expect(new Set(opened).size).toBe(3);
    });

    check(
      'a transfer asked again against another row of the same system account is the same transfer; against another account, a conflict',
      async () => {
        // M-PESA clearing is spread over rows (docs/money.md): a deposit recorded against one row,
        // before the spreading or mapped elsewhere, is the same deposit asked again against another.
        const someone = await user();
        const walletId = await ledger.openWallet(db.manager, someone.id);
        const rows = (
          await db.query<{ id: string }[]>(`SELECT id FROM accounts WHERE code = $1 ORDER BY shard`, [
            SystemAccount.MpesaClearing,
          ])
        ).map((r) => r.id);
        const pending = await pendingId();
        const other = await ledger.openWallet(db.manager, (await user()).id);
        const request = {
          idempotencyKey: ref('rows'),
          debitAccountId: rows[3],
          creditAccountId: walletId,
          amount: 120,
          kind: 'deposit' as const,
        };
        const move = (debitAccountId: string) => tx.run((t) => ledger.transfer(t, { ...request, debitAccountId }));
        const first = await move(rows[3]);
        const total = await ledger.systemBalance(SystemAccount.MpesaClearing);
        for (const row of [rows[0], rows[7], rows[3]])
          expect(await move(row)).toEqual({ transfer: first.transfer, replayed: true });
        for (const elsewhere of [pending, other])
          expect(await codeOf(move(elsewhere))).toBe('LEDGER.IDEMPOTENCY_CONFLICT');
        expect(await ledger.systemBalance(SystemAccount.MpesaClearing)).toBe(total);
        expect(await wallet.balance(someone.id)).toBe(120);
      },
    );
  });

  // ------------------------------------------------------------------------------------ wallet

  describe('wallet', () => {
    check('credits a deposit from M-PESA clearing once per reference', async () => {
      const u = await user();
      // Clearing is spread over rows; a wallet's deposits debit the row it maps to.
      const clearing = await wallet.clearingAccountFor(await ledger.openWallet(db.manager, u.id));
      const [before, total] = [await accountBalance(clearing), await ledger.systemBalance(SystemAccount.MpesaClearing)];
      const reference = ref('R');
      const first = await tx.run((t) => wallet.creditDeposit(t, { userId: u.id, amount: 250, reference }));
      expect(first.replayed).toBe(false);
      expect(first.transfer).toMatchObject({
        kind: 'deposit',
        amount: 250,
        idempotencyKey: `deposit:${reference}`,
        debitAccountId: clearing,
      });
      const again = await tx.run((t) => wallet.creditDeposit(t, { userId: u.id, amount: 250, reference }));
      expect(again.replayed).toBe(true);
      expect(await wallet.balance(u.id)).toBe(250);
      expect(await accountBalance(clearing)).toBe(before - 250);
      expect(await ledger.systemBalance(SystemAccount.MpesaClearing)).toBe(total - 250);
    });

    check('holds a withdrawal in the pending account, then settles it to M-PESA clearing, once', async () => {
      const u = await funded(1_000);
      const [pending, clearing] = [await pendingId(), await clearingId()];
      const [p0, c0] = [await accountBalance(pending), await accountBalance(clearing)];
      const id = randomUUID();
      expect(await wallet.isWithdrawalHeld(id)).toBe(false);
      expect(await wallet.withdrawalOutcome(id)).toBeNull();
      const hold = await wallet.holdWithdrawal({ userId: u.id, amount: 400, withdrawalId: id });
      expect(hold.transfer).toMatchObject({ kind: 'withdrawal_hold', amount: 400 });
      expect(await wallet.isWithdrawalHeld(id)).toBe(true);
      expect(await wallet.withdrawalOutcome(id)).toBeNull();
      expect([await wallet.balance(u.id), await accountBalance(pending)]).toEqual([600, p0 + 400]);
      const settled = await wallet.settleWithdrawal(id);
      expect(settled).toMatchObject({ replayed: false, transfer: { kind: 'withdrawal_settle', amount: 400 } });
      expect(await wallet.withdrawalOutcome(id)).toBe('settled');
      expect([await wallet.balance(u.id), await accountBalance(pending), await accountBalance(clearing)]).toEqual([
        600,
        p0,
        c0 + 400,
      ]);
      expect((await wallet.settleWithdrawal(id)).replayed).toBe(true);
      expect(await codeOf(wallet.releaseWithdrawal(id))).toBe('WITHDRAWAL.ALREADY_CLOSED');
      expect(await wallet.balance(u.id)).toBe(600);
    });

    check('releases a failed withdrawal back to the wallet, once', async () => {
      const u = await funded(500);
      const pending = await pendingId();
      const p0 = await accountBalance(pending);
      const id = randomUUID();
      await wallet.holdWithdrawal({ userId: u.id, amount: 500, withdrawalId: id });
      expect(await wallet.balance(u.id)).toBe(0);
      const released = await wallet.releaseWithdrawal(id);
      expect(released).toMatchObject({ replayed: false, transfer: { kind: 'withdrawal_release', amount: 500 } });
      expect(await wallet.withdrawalOutcome(id)).toBe('released');
      expect([await wallet.balance(u.id), await accountBalance(pending)]).toEqual([500, p0]);
      expect(await codeOf(wallet.settleWithdrawal(id))).toBe('WITHDRAWAL.ALREADY_CLOSED');
      expect(await codeOf(wallet.releaseWithdrawal(randomUUID()))).toBe('WITHDRAWAL.NOT_FOUND');
    });

    check("holds, settles and releases in the caller's transaction when given one", async () => {
      const u = await funded(300);
      const [held, settled] = [randomUUID(), randomUUID()];
      await expect(
        tx.run(async (t) => {
          await wallet.holdWithdrawal({ userId: u.id, amount: 100, withdrawalId: held }, t);
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect(await wallet.isWithdrawalHeld(held)).toBe(false);
      expect(await wallet.balance(u.id)).toBe(300);
      await wallet.holdWithdrawal({ userId: u.id, amount: 100, withdrawalId: settled });
      for (const close of [wallet.settleWithdrawal.bind(wallet), wallet.releaseWithdrawal.bind(wallet)]) {
        await expect(
          tx.run(async (t) => {
            await close(settled, t);
            throw new Error('rolled back');
          }),
        ).rejects.toThrow('rolled back');
        expect(await wallet.withdrawalOutcome(settled)).toBeNull();
      }
      expect(await codeOf(wallet.holdWithdrawal({ userId: u.id, amount: 0, withdrawalId: randomUUID() }))).toBe(
        'AMOUNT.INVALID',
      );
      expect(await codeOf(wallet.holdWithdrawal({ userId: u.id, amount: 201, withdrawalId: randomUUID() }))).toBe(
        'WALLET.INSUFFICIENT_FUNDS',
      );
    });

    check('lists a wallet newest first, signed, with the other party, a page at a time', async () => {
      const [a, b] = [await user(), await user()];
      await loans.receiveDeposit({ userId: a.id, amount: 1_000, reference: ref('H1') });
      const loan = await activeLoan(a, b, 300, 100);
      await loans.receiveDeposit({ userId: b.id, amount: 50, reference: ref('H2') });
      // a: deposit +1000, disbursement −300, repayment +50 (the deposit of 50 to b allocated).
      const page = await wallet.history(a.id, { limit: 2 });
      expect(page.items.map((i) => [i.kind, i.amount, i.loanId, i.counterpartyUserId])).toEqual([
        ['loan_repayment', 50, loan.id, b.id],
        ['loan_disbursement', -300, loan.id, b.id],
      ]);
      expect(page.nextCursor).not.toBeNull();
      const rest = await wallet.history(a.id, { limit: 2, before: page.nextCursor! });
      expect(rest.items.map((i) => [i.kind, i.amount, i.counterpartyUserId])).toEqual([['deposit', 1_000, null]]);
      expect(rest.nextCursor).toBeNull();
      expect((await wallet.history(a.id)).items).toHaveLength(3);
      expect((await wallet.history(a.id, { limit: 0 })).items).toHaveLength(1);
      expect((await wallet.history(a.id, { before: 'not-a-cursor' })).items).toHaveLength(3);
      expect((await wallet.history(a.id, { before: Buffer.from('s1x').toString('base64url') })).items).toHaveLength(3);
      // A cursor is `s` and digits, nothing before them either: anything else reads as none.
      expect((await wallet.history(a.id, { before: Buffer.from('xs1').toString('base64url') })).items).toHaveLength(3);
      const b3 = await wallet.history(b.id, { limit: 3 });
      expect(b3.items.map((i) => [i.kind, i.amount])).toEqual([
        ['loan_repayment', -50],
        ['deposit', 50],
        ['loan_disbursement', 300],
      ]);
      expect(b3.nextCursor).toBeNull();
      expect(b3.items[0].createdAt).toBeInstanceOf(Date);
      expect(await wallet.history(randomUUID())).toEqual({ items: [], nextCursor: null });
    });

    check('shows at most 50 entries a page', async () => {
      const u = await user();
      for (let i = 0; i < 51; i += 1)
        await tx.run((t) => wallet.creditDeposit(t, { userId: u.id, amount: 1, reference: ref('M') }));
      const page = await wallet.history(u.id, { limit: 500 });
      expect(page.items).toHaveLength(50);
      expect(page.nextCursor).not.toBeNull();
    });
  });

  // ------------------------------------------------------------------------------------- loans

  /** A loan of `principal` from a funded lender to `borrower`, approved. */
  async function activeLoan(lender: User, borrower: User, principal: number, rate: number) {
    const loan = await loans.requestLoan({
      borrowerId: borrower.id,
      lenderPhoneNumber: lender.phoneNumber,
      amount: principal,
      repaymentPerDeposit: rate,
    });
    return loans.approve(loan.id, lender.id);
  }

  describe('loan requests', () => {
    check('takes amounts from 100 to 250,000 and a repayment per deposit from 10 to the amount', async () => {
      const borrower = await user();
      const request = (amount: number, repaymentPerDeposit: number) =>
        codeOf(
          loans.requestLoan({ borrowerId: borrower.id, lenderPhoneNumber: uniquePhone(), amount, repaymentPerDeposit }),
        );
      expect(await request(99, 10)).toBe('LOAN.AMOUNT_OUT_OF_RANGE');
      expect(await request(250_001, 10)).toBe('LOAN.AMOUNT_OUT_OF_RANGE');
      expect(await request(150.5, 10)).toBe('LOAN.AMOUNT_OUT_OF_RANGE');
      expect(await request(500, 9)).toBe('LOAN.REPAYMENT_OUT_OF_RANGE');
      expect(await request(500, 501)).toBe('LOAN.REPAYMENT_OUT_OF_RANGE');
      expect(await request(500, 10.5)).toBe('LOAN.REPAYMENT_OUT_OF_RANGE');
      expect(await request(100, 10)).toBe('');
      expect(await request(250_000, 250_000)).toBe('');
      expect(await request(500, 500)).toBe('');
      expect(
        await codeOf(
          loans.requestLoan({
            borrowerId: borrower.id,
            lenderPhoneNumber: borrower.phoneNumber,
            amount: 500,
            repaymentPerDeposit: 50,
          }),
        ),
      ).toBe('LOAN.SELF_LOAN');
    });

    check('records a pending request that expires after 72 hours and tells the lender', async () => {
      const [borrower, lender] = [await user(), await user()];
      const before = Date.now();
      const loan = await loans.requestLoan({
        borrowerId: borrower.id,
        lenderPhoneNumber: lender.phoneNumber,
        amount: 1_500,
        repaymentPerDeposit: 150,
      });
      expect(loan).toMatchObject({
        borrowerId: borrower.id,
        lenderId: lender.id,
        principal: 1_500,
        repaymentPerDeposit: 150,
        outstanding: 1_500,
        status: 'PENDING',
      });
      const ttl = 72 * 3_600_000;
      expect(loan.expiresAt.getTime()).toBeGreaterThanOrEqual(before + ttl);
      expect(loan.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + ttl);
      expect(await sms(lender.phoneNumber, 'loan.requested')).toEqual([
        expect.stringMatching(new RegExp(`${local(borrower.phoneNumber)}.*Ksh 1500.*Ksh 150`)),
      ]);
      expect(
        await codeOf(
          loans.requestLoan({
            borrowerId: borrower.id,
            lenderPhoneNumber: lender.phoneNumber,
            amount: 1_500,
            repaymentPerDeposit: 150,
          }),
        ),
      ).toBe('LOAN.DUPLICATE_REQUEST');
    });

    check('allows 5 pending requests per borrower, and one request per client key', async () => {
      const borrower = await user();
      const key = ref('K');
      const lender = await user();
      const first = await loans.requestLoan({
        borrowerId: borrower.id,
        lenderPhoneNumber: lender.phoneNumber,
        amount: 200,
        repaymentPerDeposit: 20,
        requestKey: key,
      });
      const again = await loans.requestLoan({
        borrowerId: borrower.id,
        lenderPhoneNumber: lender.phoneNumber,
        amount: 200,
        repaymentPerDeposit: 20,
        requestKey: key,
      });
      expect(again.id).toBe(first.id);
      for (const other of [
        { amount: 201 },
        { repaymentPerDeposit: 21 },
        { lenderPhoneNumber: (await user()).phoneNumber },
      ]) {
        expect(
          await codeOf(
            loans.requestLoan({
              borrowerId: borrower.id,
              lenderPhoneNumber: lender.phoneNumber,
              amount: 200,
              repaymentPerDeposit: 20,
              requestKey: key,
              ...other,
            }),
          ),
        ).toBe('LOAN.REQUEST_KEY_CONFLICT');
      }
      const someoneElse = await user();
      expect(
        await codeOf(
          loans.requestLoan({
            borrowerId: someoneElse.id,
            lenderPhoneNumber: lender.phoneNumber,
            amount: 200,
            repaymentPerDeposit: 20,
            requestKey: key,
          }),
        ),
      ).toBe('LOAN.REQUEST_KEY_CONFLICT');
      for (let i = 0; i < 4; i += 1)
        await loans.requestLoan({
          borrowerId: borrower.id,
          lenderPhoneNumber: uniquePhone(),
          amount: 200,
          repaymentPerDeposit: 20,
        });
      expect(
        await codeOf(
          loans.requestLoan({
            borrowerId: borrower.id,
            lenderPhoneNumber: uniquePhone(),
            amount: 200,
            repaymentPerDeposit: 20,
          }),
        ),
      ).toBe('LOAN.TOO_MANY_PENDING');
    });
  });

  describe('approval, decline, cancel and expiry', () => {
    check('approval moves the principal lender → borrower and makes the loan ACTIVE, once', async () => {
      const [lender, borrower] = [await funded(2_000), await user()];
      const loan = await loans.requestLoan({
        borrowerId: borrower.id,
        lenderPhoneNumber: lender.phoneNumber,
        amount: 1_200,
        repaymentPerDeposit: 100,
      });
      expect(await codeOf(loans.approve(loan.id, borrower.id))).toBe('LOAN.NOT_LENDER');
      expect(await codeOf(loans.approve(loan.id, (await user()).id))).toBe('LOAN.NOT_FOUND');
      expect(await codeOf(loans.approve('not-a-uuid', lender.id))).toBe('LOAN.NOT_FOUND');
      expect(await codeOf(loans.approve(randomUUID(), lender.id))).toBe('LOAN.NOT_FOUND');
      const before = Date.now();
      const approved = await loans.approve(loan.id, lender.id);
      expect(approved).toMatchObject({ status: 'ACTIVE', outstanding: 1_200 });
      expect(approved.approvedAt!.getTime()).toBeGreaterThanOrEqual(before - 1_000);
      expect([await wallet.balance(lender.id), await wallet.balance(borrower.id)]).toEqual([800, 1_200]);
      const moved = await ledger.transfersForLoan(loan.id);
      expect(moved.map((t) => [t.kind, t.amount, t.idempotencyKey])).toEqual([
        ['loan_disbursement', 1_200, `loan:${loan.id}:disbursement`],
      ]);
      expect(await sms(borrower.phoneNumber, 'loan.approved')).toEqual([
        expect.stringMatching(new RegExp(`${local(lender.phoneNumber)}.*Ksh 1200.*Ksh 100.*Ksh 1200`)),
      ]);
      expect(await codeOf(loans.approve(loan.id, lender.id))).toBe('LOAN.NOT_PENDING');
      expect(await wallet.balance(borrower.id)).toBe(1_200);
    });

    check('a lender short of the principal cannot approve', async () => {
      const [lender, borrower] = [await funded(999), await user()];
      const loan = await loans.requestLoan({
        borrowerId: borrower.id,
        lenderPhoneNumber: lender.phoneNumber,
        amount: 1_000,
        repaymentPerDeposit: 100,
      });
      expect(await codeOf(loans.approve(loan.id, lender.id))).toBe('WALLET.INSUFFICIENT_FUNDS');
      expect((await loanRow(loan.id)).status).toBe('PENDING');
    });

    check('an expired request can be neither approved nor kept pending', async () => {
      const [lender, borrower] = [await funded(1_000), await user()];
      const loan = await loans.requestLoan({
        borrowerId: borrower.id,
        lenderPhoneNumber: lender.phoneNumber,
        amount: 500,
        repaymentPerDeposit: 50,
      });
      expect(await loans.expire(loan.id)).toBe(false);
      await db.query(`UPDATE loans SET expires_at = now() - interval '1 second' WHERE id = $1`, [loan.id]);
      // Refused as a conflict that tells the client the request is now EXPIRED (the API's contract).
      await expect(loans.approve(loan.id, lender.id)).rejects.toMatchObject({
        code: 'LOAN.NOT_PENDING',
        kind: 'conflict',
        message: 'This request has expired',
        details: { status: 'EXPIRED' },
      });
      expect(await loans.expire(loan.id)).toBe(true);
      const row = await loanRow(loan.id);
      expect(row.status).toBe('EXPIRED');
      expect(row.closed_at).not.toBeNull();
      expect(await sms(borrower.phoneNumber, 'loan.expired')).toEqual([
        expect.stringMatching(new RegExp(`Ksh 500 to ${local(lender.phoneNumber)}`)),
      ]);
      expect(await loans.expire(loan.id)).toBe(false);
      expect(await loans.expire(randomUUID())).toBe(false);
      expect(await wallet.balance(lender.id)).toBe(1_000);
    });

    check('the sweep expires every request past its time, and nothing else', async () => {
      const borrower = await user();
      const due = [];
      for (let i = 0; i < 2; i += 1)
        due.push(
          await loans.requestLoan({
            borrowerId: borrower.id,
            lenderPhoneNumber: uniquePhone(),
            amount: 300,
            repaymentPerDeposit: 30,
          }),
        );
      const waiting = await loans.requestLoan({
        borrowerId: borrower.id,
        lenderPhoneNumber: uniquePhone(),
        amount: 300,
        repaymentPerDeposit: 30,
      });
      await db.query(`UPDATE loans SET expires_at = now() - interval '1 minute' WHERE id = ANY($1::uuid[])`, [
        due.map((l) => l.id),
      ]);
      expect(await loans.expireDue()).toBeGreaterThanOrEqual(2);
      for (const l of due) expect((await loanRow(l.id)).status).toBe('EXPIRED');
      expect((await loanRow(waiting.id)).status).toBe('PENDING');
      expect(await loans.expireDue()).toBe(0);
    });

    check('the lender declines and the borrower cancels, each telling the other', async () => {
      const [lender, borrower] = [await user(), await user()];
      const a = await loans.requestLoan({
        borrowerId: borrower.id,
        lenderPhoneNumber: lender.phoneNumber,
        amount: 400,
        repaymentPerDeposit: 40,
      });
      expect(await codeOf(loans.decline(a.id, borrower.id))).toBe('LOAN.NOT_LENDER');
      expect(await codeOf(loans.cancel(a.id, lender.id))).toBe('LOAN.NOT_BORROWER');
      const declined = await loans.decline(a.id, lender.id);
      expect(declined.status).toBe('DECLINED');
      expect(declined.closedAt).not.toBeNull();
      expect(await sms(borrower.phoneNumber, 'loan.declined')).toEqual([
        expect.stringMatching(
          new RegExp(`${local(lender.phoneNumber)}.*Ksh 400|Ksh 400.*${local(lender.phoneNumber)}`),
        ),
      ]);
      expect(await codeOf(loans.cancel(a.id, borrower.id))).toBe('LOAN.NOT_PENDING');
      const b = await loans.requestLoan({
        borrowerId: borrower.id,
        lenderPhoneNumber: lender.phoneNumber,
        amount: 600,
        repaymentPerDeposit: 60,
      });
      const cancelled = await loans.cancel(b.id, borrower.id);
      expect(cancelled.status).toBe('CANCELLED');
      expect(cancelled.closedAt).not.toBeNull();
      expect(await sms(lender.phoneNumber, 'loan.cancelled')).toEqual([
        expect.stringMatching(new RegExp(`${local(borrower.phoneNumber)}.*Ksh 600`)),
      ]);
      expect(await sms(lender.phoneNumber, 'loan.declined')).toEqual([]);
      expect(await sms(borrower.phoneNumber, 'loan.cancelled')).toEqual([]);
      expect(await codeOf(loans.decline(b.id, lender.id))).toBe('LOAN.NOT_PENDING');
    });
  });

  describe('deposits and allocation', () => {
    check(
      'pays active loans oldest approval first, x = min(rate, outstanding, remaining), and replays a reference',
      async () => {
        const borrower = await user();
        const [l1, l2, l3] = [await funded(5_000), await funded(5_000), await funded(5_000)];
        // Requested 1, 2, 3; approved 2, then 1: loan 2 is the oldest approval. Loan 3 stays pending.
        const r1 = await loans.requestLoan({
          borrowerId: borrower.id,
          lenderPhoneNumber: l1.phoneNumber,
          amount: 1_000,
          repaymentPerDeposit: 300,
        });
        const r2 = await loans.requestLoan({
          borrowerId: borrower.id,
          lenderPhoneNumber: l2.phoneNumber,
          amount: 250,
          repaymentPerDeposit: 200,
        });
        const r3 = await loans.requestLoan({
          borrowerId: borrower.id,
          lenderPhoneNumber: l3.phoneNumber,
          amount: 500,
          repaymentPerDeposit: 100,
        });
        await loans.approve(r2.id, l2.id);
        await loans.approve(r1.id, l1.id);
        // Borrower: 1,250 from the loans. Deposit 450: loan 2 takes min(200, 250, 450) = 200, loan 1 min(300, 1000, 250) = 250.
        const reference = ref('D');
        const result = await loans.receiveDeposit({ userId: borrower.id, amount: 450, reference });
        expect(result).toMatchObject({ amount: 450, deducted: 450, balance: 1_250, replayed: false });
        expect(result.allocations).toEqual([
          { loanId: r2.id, amount: 200 },
          { loanId: r1.id, amount: 250 },
        ]);
        expect(await sms(borrower.phoneNumber, 'deposit.received')).toEqual([
          'Deni: Ksh 450 received. Ksh 450 deducted for loan. New balance: Ksh 1250',
        ]);
        expect([await wallet.balance(l1.id), await wallet.balance(l2.id), await wallet.balance(l3.id)]).toEqual([
          4_250, 4_950, 5_000,
        ]);
        expect([
          (await loanRow(r1.id)).outstanding,
          (await loanRow(r2.id)).outstanding,
          (await loanRow(r3.id)).outstanding,
        ]).toEqual([750, 50, 500]);
        expect(await sms(l1.phoneNumber, 'loan.repayment_received')).toEqual([
          expect.stringMatching(/Ksh 250 received.*Still owed: Ksh 750/),
        ]);

        const replay = await loans.receiveDeposit({ userId: borrower.id, amount: 450, reference });
        expect(replay).toEqual({
          transferId: result.transferId,
          amount: 450,
          deducted: 450,
          balance: 1_250,
          allocations: result.allocations,
          replayed: true,
        });
        expect(await codeOf(loans.receiveDeposit({ userId: borrower.id, amount: 451, reference }))).toBe(
          'LEDGER.IDEMPOTENCY_CONFLICT',
        );

        // Deposit 1,000: loan 2 takes its last 50 and is REPAID; loan 1 takes 300.
        const next = await loans.receiveDeposit({ userId: borrower.id, amount: 1_000, reference: ref('D') });
        expect(next.allocations).toEqual([
          { loanId: r2.id, amount: 50 },
          { loanId: r1.id, amount: 300 },
        ]);
        expect([next.deducted, next.balance]).toEqual([350, 1_900]);
        const paid = await loanRow(r2.id);
        expect([paid.status, paid.outstanding, paid.closed_at !== null]).toEqual(['REPAID', 0, true]);
        expect((await loanRow(r1.id)).status).toBe('ACTIVE');
        expect((await loanRow(r1.id)).closed_at).toBeNull();
        expect(await sms(borrower.phoneNumber, 'loan.repaid_borrower')).toEqual([
          expect.stringMatching(new RegExp(`Ksh 250 from ${local(l2.phoneNumber)}`)),
        ]);
        expect(await sms(l2.phoneNumber, 'loan.repaid_lender')).toEqual([
          expect.stringMatching(new RegExp(`${local(borrower.phoneNumber)}.*Ksh 250`)),
        ]);
        expect(await sms(l1.phoneNumber, 'loan.repaid_lender')).toEqual([]);
        const { repayments } = await loans.getForParty(r2.id, l2.id);
        expect(repayments.map((t) => t.amount)).toEqual([200, 50]);
      },
    );

    check('a deposit without debts is all the borrower’s, and a reference must be 1–100 plain characters', async () => {
      const u = await user();
      const result = await loans.receiveDeposit({ userId: u.id, amount: 700, reference: ref('P') });
      expect(result).toMatchObject({ amount: 700, deducted: 0, balance: 700, allocations: [], replayed: false });
      expect(await sms(u.phoneNumber, 'deposit.received')).toEqual(['Deni: Ksh 700 received. New balance: Ksh 700']);
      for (const reference of ['', 'has space', 'x'.repeat(101)])
        expect(await codeOf(loans.receiveDeposit({ userId: u.id, amount: 1, reference }))).toBe(
          'DEPOSIT.BAD_REFERENCE',
        );
      expect(await codeOf(loans.receiveDeposit({ userId: u.id, amount: 0, reference: ref('P') }))).toBe(
        'AMOUNT.INVALID',
      );
      expect(
        (await loans.receiveDeposit({ userId: u.id, amount: 1, reference: 'A_b.c:d-9' + 'x'.repeat(91) })).balance,
      ).toBe(701);
    });
  });

  describe('repayments the borrower chooses', () => {
    check('moves up to what is outstanding, once per key, and a loan reaching 0 is REPAID', async () => {
      const [lender, borrower] = [await funded(1_000), await funded(100)];
      const loan = await activeLoan(lender, borrower, 600, 50);
      expect(await codeOf(loans.repay(loan.id, lender.id, 100, 'k1'))).toBe('LOAN.NOT_BORROWER');
      expect(await codeOf(loans.repay(loan.id, borrower.id, 601, 'k1'))).toBe('LOAN.REPAYMENT_EXCEEDS_OUTSTANDING');
      expect(await codeOf(loans.repay(loan.id, borrower.id, 0, 'k1'))).toBe('AMOUNT.INVALID');
      const after = await loans.repay(loan.id, borrower.id, 250, 'k1');
      expect([after.outstanding, after.status]).toEqual([350, 'ACTIVE']);
      expect((await loans.repay(loan.id, borrower.id, 250, 'k1')).outstanding).toBe(350);
      expect([await wallet.balance(borrower.id), await wallet.balance(lender.id)]).toEqual([450, 650]);
      expect(await codeOf(loans.repay(loan.id, borrower.id, 251, 'k1'))).toBe('LEDGER.IDEMPOTENCY_CONFLICT');
      const done = await loans.repay(loan.id, borrower.id, 350, 'k2');
      expect([done.outstanding, done.status]).toEqual([0, 'REPAID']);
      expect(done.closedAt).not.toBeNull();
      expect([await wallet.balance(borrower.id), await wallet.balance(lender.id)]).toEqual([100, 1_000]);
      expect(await codeOf(loans.repay(loan.id, borrower.id, 1, 'k3'))).toBe('LOAN.NOT_ACTIVE');
      expect((await loans.repay(loan.id, borrower.id, 350, 'k2')).status).toBe('REPAID');
    });

    check('a pending loan cannot be repaid', async () => {
      const [lender, borrower] = [await user(), await funded(100)];
      const loan = await loans.requestLoan({
        borrowerId: borrower.id,
        lenderPhoneNumber: lender.phoneNumber,
        amount: 100,
        repaymentPerDeposit: 10,
      });
      expect(await codeOf(loans.repay(loan.id, borrower.id, 10, 'k'))).toBe('LOAN.NOT_ACTIVE');
    });
  });

  describe('what a user sees of their loans', () => {
    check('lists by role and status, newest first, pages, and sums what is owed each way', async () => {
      const me = await funded(3_000);
      const [x, y] = [await funded(3_000), await user()];
      const borrowed = await activeLoan(x, me, 1_000, 100); // me owes 1000
      const lent = await activeLoan(me, y, 700, 70); // y owes me 700
      const pendingForMe = await loans.requestLoan({
        borrowerId: y.id,
        lenderPhoneNumber: me.phoneNumber,
        amount: 150,
        repaymentPerDeposit: 15,
      });
      const myRequest = await loans.requestLoan({
        borrowerId: me.id,
        lenderPhoneNumber: y.phoneNumber,
        amount: 120,
        repaymentPerDeposit: 12,
      });
      const ids = (r: { items: { id: string }[] }) => r.items.map((l) => l.id);
      const all = await loans.listForUser(me.id);
      expect(ids(all)).toEqual([myRequest.id, pendingForMe.id, lent.id, borrowed.id]);
      expect(all.total).toBe(4);
      expect(all.items[0].borrower!.phoneNumber).toBe(me.phoneNumber);
      expect(all.items[0].lender!.phoneNumber).toBe(y.phoneNumber);
      expect(ids(await loans.listForUser(me.id, { role: 'borrower' }))).toEqual([myRequest.id, borrowed.id]);
      expect(ids(await loans.listForUser(me.id, { role: 'lender' }))).toEqual([pendingForMe.id, lent.id]);
      expect(ids(await loans.listForUser(me.id, { status: ['ACTIVE'] }))).toEqual([lent.id, borrowed.id]);
      const page = await loans.listForUser(me.id, { limit: 2, offset: 1 });
      expect([ids(page), page.total]).toEqual([[pendingForMe.id, lent.id], 4]);
      const uncounted = await loans.listForUser(me.id, { limit: 2, count: false });
      expect([ids(uncounted), uncounted.total]).toEqual([[myRequest.id, pendingForMe.id], 2]);
      expect(ids(await loans.listForUser(me.id, { limit: 0, offset: -3 }))).toEqual([myRequest.id]);
      expect(ids(await loans.pendingForLender(me.id))).toEqual([pendingForMe.id]);
      expect(await loans.summary(me.id)).toEqual({
        balance: 3_000 - 700 + 1_000,
        owed: 700,
        owing: 1_000,
        activeAsBorrower: 1,
        activeAsLender: 1,
        pendingApprovals: 1,
      });
      const detail = await loans.getForParty(borrowed.id, me.id);
      expect(detail.loan.lender!.id).toBe(x.id);
      expect(detail.repayments).toEqual([]);
      expect(await codeOf(loans.getForParty(borrowed.id, y.id))).toBe('LOAN.NOT_FOUND');
    });

    check('reads several users at once as it reads each alone: newest loans, summaries, latest entries', async () => {
      // Three users whose loans and entries overlap (each is a party to the others' loans), one
      // with more loans than the limit, one with nothing at all.
      const [a, b, c, nobody] = [await funded(5_000), await funded(5_000), await user(), await user()];
      await activeLoan(a, b, 500, 50);
      await activeLoan(b, c, 300, 30);
      for (let i = 0; i < 4; i += 1)
        await loans.requestLoan({
          borrowerId: c.id,
          lenderPhoneNumber: a.phoneNumber,
          amount: 100 + i,
          repaymentPerDeposit: 10,
        });
      await loans.receiveDeposit({ userId: c.id, amount: 200, reference: ref('MANY') });
      const everyone = [a.id, b.id, c.id, nobody.id];
      const limit = 3;
      const [latest, summaries, entries] = await Promise.all([
        loans.latestForUsers(everyone, limit),
        loans.summaries(everyone),
        wallet.latestEntries(everyone, limit),
      ]);
      for (const id of everyone) {
        const alone = await loans.listForUser(id, { role: 'any', limit, count: false });
        expect({
          id,
          loans: latest.get(id)!.map((l) => [l.id, l.borrower!.phoneNumber, l.lender!.phoneNumber]),
        }).toEqual({
          id,
          loans: alone.items.map((l) => [l.id, l.borrower!.phoneNumber, l.lender!.phoneNumber]),
        });
        expect({ id, summary: summaries.get(id) }).toEqual({ id, summary: await loans.summary(id) });
        expect({ id, entries: entries.get(id) }).toEqual({ id, entries: (await wallet.history(id, { limit })).items });
      }
      expect(latest.get(c.id)).toHaveLength(limit);
      expect([latest.get(nobody.id), entries.get(nobody.id)]).toEqual([[], []]);
    });

    check('pages of at most 100 loans', async () => {
      const me = await user();
      const many = await loans.listForUser(me.id, { limit: 1_000 });
      expect(many.items).toEqual([]);
    });
  });

  // ------------------------------------------------------------------------------------ M-PESA

  describe('M-PESA settlement', () => {
    let mpesa: WithdrawalService;
    let statuses: WithdrawalStatusService;
    let paybill: PaybillService;
    let review: PaymentReviewService;
    let snapshots: UssdSnapshotStore;
    beforeAll(() => {
      mpesa = app.get(WithdrawalService);
      statuses = app.get(WithdrawalStatusService);
      paybill = app.get(PaybillService);
      review = app.get(PaymentReviewService);
      snapshots = app.get(UssdSnapshotStore);
    });
    const published = <T>(name: string): T => JSON.parse(readFileSync(`test/fixtures/providers/${name}`, 'utf8')) as T;
    const payment = (id: string) => db.getRepository(MpesaPayment).findOneByOrFail({ id });

    check('credits a paybill payment to the account reference’s wallet once, allocating it', async () => {
      const [lender, borrower] = [await funded(1_000), await user()];
      await activeLoan(lender, borrower, 500, 120);
      const body = {
        ...published<Record<string, string>>('daraja-c2b-confirmation.json'),
        TransID: `Q${randomBytes(4).toString('hex').toUpperCase()}`,
        TransAmount: '300.00',
        BillRefNumber: borrower.phoneNumber,
        BusinessShortCode: config.mpesa.shortcode,
      };
      expect(await paybill.confirmC2b(body)).toEqual({ applied: true });
      expect(await wallet.balance(borrower.id)).toBe(500 + 300 - 120);
      expect(await wallet.balance(lender.id)).toBe(500 + 120);
      const [row] = await db.query<{ status: string }[]>(`SELECT status FROM mpesa_payments WHERE trans_id = $1`, [
        body.TransID,
      ]);
      expect(row.status).toBe('succeeded');
      expect(await paybill.confirmC2b(body)).toEqual({ applied: false });
      expect(await wallet.balance(borrower.id)).toBe(680);
    });

    /** A withdrawal Daraja acknowledged, its money held. */
    async function withdrawal(amount: number) {
      const u = await funded(1_000);
      const w = await mpesa.withdraw(u.id, amount);
      expect(await wallet.balance(u.id)).toBe(1_000 - amount);
      return { u, w };
    }
    /**
     * Safaricom's B2C result sample for one withdrawal: paid with `receipt` (claiming the amount and
     * receiver asked for, unless `claims` says otherwise), or failed (2001) when null.
     */
    function b2cResult(w: MpesaPayment, receipt: string | null, claims: { amount?: number; receiver?: string } = {}) {
      const body = published<{
        Result: Record<string, unknown> & { ResultParameters?: { ResultParameter: { Key: string; Value: unknown }[] } };
      }>(receipt ? 'daraja-b2c-result-success.json' : 'daraja-b2c-result-failure.json');
      Object.assign(body.Result, {
        OriginatorConversationID: w.originatorConversationId,
        ConversationID: w.conversationId,
        ...(receipt ? { TransactionID: receipt } : {}),
      });
      if (receipt)
        body.Result.ResultParameters!.ResultParameter = body.Result.ResultParameters!.ResultParameter.map((p) =>
          p.Key === 'TransactionReceipt'
            ? { Key: p.Key, Value: receipt }
            : p.Key === 'TransactionAmount'
              ? { Key: p.Key, Value: claims.amount ?? w.amount }
              : p.Key === 'ReceiverPartyPublicName'
                ? { Key: p.Key, Value: `${claims.receiver ?? w.phoneNumber} - JOHN DOE` }
                : p,
        );
      return body;
    }
    const newReceipt = () => `S${randomBytes(4).toString('hex').toUpperCase()}`;
    /** A text to find as it is in a regular expression. */
    const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    /**
     * Safaricom's Transaction Status sample answering about one withdrawal: `transactionStatus`
     * (Completed, Failed, …) of the transaction Daraja acknowledged it as (its ConversationID), or of
     * another one when `conversationId` says so.
     */
    function statusAnswer(w: MpesaPayment, transactionStatus: string, receipt = newReceipt(), conversationId?: string) {
      const body = published<{ Result: { ResultParameters: { ResultParameter: { Key: string; Value?: unknown }[] } } }>(
        'daraja-transaction-status-result.json',
      );
      const values: Record<string, unknown> = {
        ConversationID: conversationId ?? w.conversationId,
        Amount: String(w.amount),
        TransactionStatus: transactionStatus,
        ReceiptNo: receipt,
      };
      body.Result.ResultParameters.ResultParameter = body.Result.ResultParameters.ResultParameter.map((p) =>
        p.Key in values ? { Key: p.Key, Value: values[p.Key] } : p,
      );
      return body;
    }
    /** Daraja's Transaction Status answer posted to the withdrawal's own status URL. */
    const status = (w: MpesaPayment, transactionStatus: string, receipt?: string) =>
      statuses.handleB2cStatusResult(w.id, statusAnswer(w, transactionStatus, receipt));
    /**
     * The last resort (WithdrawalStatusService.giveUpB2c, once past MPESA_RECONCILE_MAX_AGE_MS):
     * give the money back without M-PESA's word, flagged. Called as it calls it, since a withdrawal
     * made in a test is never old enough for it.
     */
    const lastResort = (w: MpesaPayment) =>
      mpesa.closeB2c(w.id, false, null, GIVEN_UP, { needsReview: true, unconfirmed: true });
    const GIVEN_UP = 'OUTCOME UNKNOWN: no result from M-PESA; hold released, check the M-PESA statement';
    /** What the subscriber was told about withdrawals: how many SMS of each kind. */
    async function told(u: User) {
      return {
        sent: (await sms(u.phoneNumber, 'mpesa.withdrawal_sent')).length,
        failed: (await sms(u.phoneNumber, 'mpesa.withdrawal_failed')).length,
        unconfirmed: (await sms(u.phoneNumber, 'mpesa.withdrawal_unconfirmed')).length,
      };
    }
    /** The balance the subscriber's offline (USSD) snapshot shows, once the snapshots under way are stored. */
    async function offlineBalance(u: User): Promise<number | undefined> {
      await snapshots.settle();
      return (await snapshots.get(u.phoneNumber))?.balance;
    }
    const resolution = (outcome: 'paid' | 'not_paid', reviewedBy: string, receipt?: string) => ({
      outcome,
      ...(receipt ? { receipt } : {}),
      reviewedBy,
      note: outcome === 'paid' ? `M-PESA statement: paid, receipt ${receipt}.` : 'M-PESA statement: no such payment.',
    });
    /**
     * Runs `meanwhile` when the wallet is next asked to `close` a withdrawal (settle or release it),
     * just before it does: what another answer or an operator commits while this answer, having read
     * the payment still open, is on its way to the ledger. The two real writes, in that order.
     */
    async function meanwhileOnLedger<T>(
      close: 'settleWithdrawal' | 'releaseWithdrawal',
      meanwhile: () => Promise<unknown>,
      answer: () => Promise<T>,
    ): Promise<T> {
      const own = wallet as unknown as Record<string, unknown>;
      const original = wallet[close].bind(wallet);
      own[close] = async (...args: Parameters<WalletService['settleWithdrawal']>) => {
        delete own[close];
        await meanwhile();
        return original(...args);
      };
      try {
        return await answer();
      } finally {
        delete own[close];
      }
    }

    check('settles a paid withdrawal: the held money leaves Deni, once', async () => {
      const { u, w } = await withdrawal(400);
      const receipt = `S${randomBytes(4).toString('hex').toUpperCase()}`;
      expect(await mpesa.handleB2cResult(b2cResult(w, receipt))).toEqual({ applied: true });
      expect(await wallet.withdrawalOutcome(w.id)).toBe('settled');
      expect(await payment(w.id)).toMatchObject({ status: 'succeeded', receipt });
      expect(await wallet.balance(u.id)).toBe(600);
      expect(await mpesa.handleB2cResult(b2cResult(w, receipt))).toEqual({ applied: false });
      expect(await mpesa.handleB2cResult(b2cResult(w, null))).toEqual({ applied: false });
      expect(await wallet.withdrawalOutcome(w.id)).toBe('settled');
      expect(await wallet.balance(u.id)).toBe(600);
    });

    check('releases a failed withdrawal: the held money goes back to the wallet, once', async () => {
      const { u, w } = await withdrawal(250);
      expect(await mpesa.handleB2cResult(b2cResult(w, null))).toEqual({ applied: true });
      expect(await wallet.withdrawalOutcome(w.id)).toBe('released');
      expect((await payment(w.id)).status).toBe('failed');
      expect(await wallet.balance(u.id)).toBe(1_000);
      // The subscriber's offline snapshot shows it too, once the release is done.
      expect(await offlineBalance(u)).toBe(1_000);
      const late = `S${randomBytes(4).toString('hex').toUpperCase()}`;
      expect(await mpesa.handleB2cResult(b2cResult(w, late))).toEqual({ applied: false });
      expect(await wallet.withdrawalOutcome(w.id)).toBe('released');
      expect(await wallet.balance(u.id)).toBe(1_000);
      expect((await payment(w.id)).needsReview).toBe(true);
    });

    // Answers out of the ordinary (docs/mpesa.md: B2C results that disagree, M-PESA answering late,
    // operator review): whatever comes, the hold ends once, by one outcome, or stays for an operator.

    check('holds a withdrawal whose result claimed another amount until an operator ends it', async () => {
      const { u, w } = await withdrawal(400);
      const forged = newReceipt();
      expect(await mpesa.handleB2cResult(b2cResult(w, forged, { amount: 99_999 }))).toEqual({ applied: false });
      expect(await payment(w.id)).toMatchObject({
        status: 'pending',
        needsReview: true,
        completedAt: null,
        resultDesc: expect.stringMatching(/^RESULT DISAGREES \(amount\)/) as unknown,
      });
      // Another result after it (a failure) is recorded too, and ends nothing either.
      expect(await mpesa.handleB2cResult(b2cResult(w, null))).toEqual({ applied: false });
      const held = await payment(w.id);
      expect(held.callbackMismatches).toEqual([
        expect.objectContaining({ kinds: ['amount'], resultCode: 0, amount: 99_999, receipt: forged }),
        expect.objectContaining({ kinds: ['outcome'], resultCode: 2001 }),
      ]);
      // Transaction Status saying paid, or not paid, and the last resort: each refused, nothing moves.
      for (const answer of [
        () => status(w, 'Completed', forged).then((a) => a.applied),
        () => status(w, 'Failed').then((a) => a.applied),
        () => lastResort(w),
      ]) {
        expect(await answer()).toBe(false);
        expect(await wallet.withdrawalOutcome(w.id)).toBeNull();
        expect(await wallet.balance(u.id)).toBe(600);
        expect(await payment(w.id)).toMatchObject({
          status: 'pending',
          needsReview: true,
          completedAt: null,
          resultDesc: held.resultDesc,
          receipt: null,
        });
      }
      expect(await told(u)).toEqual({ sent: 0, failed: 0, unconfirmed: 0 });

      // The operator finds no such payment on the statement: the money goes back. M-PESA's late
      // "Completed" then moves nothing, and says paid after release, after the operator's word.
      await review.resolveWithdrawal(w.id, resolution('not_paid', 'Otieno (finance ops)'));
      expect(await wallet.withdrawalOutcome(w.id)).toBe('released');
      expect(await wallet.balance(u.id)).toBe(1_000);
      const late = newReceipt();
      expect(await status(w, 'Completed', late)).toEqual({ applied: false });
      expect(await wallet.withdrawalOutcome(w.id)).toBe('released');
      expect(await wallet.balance(u.id)).toBe(1_000);
      const after = await payment(w.id);
      expect(after).toMatchObject({ status: 'failed', needsReview: true, receipt: late });
      expect(after.resultDesc).toBe(
        `PAID AFTER RELEASE (receipt ${late}), after it was RESOLVED BY OPERATOR (Otieno (finance ops)) as not paid: needs an operator`,
      );
      expect(await told(u)).toEqual({ sent: 0, failed: 1, unconfirmed: 0 });
    });

    check('holds a result naming another receiver; M-PESA contradicting the operator is flagged once', async () => {
      const { u, w } = await withdrawal(300);
      const elsewhere = newReceipt();
      expect(await mpesa.handleB2cResult(b2cResult(w, elsewhere, { receiver: uniquePhone() }))).toEqual({
        applied: false,
      });
      expect((await payment(w.id)).callbackMismatches).toEqual([
        expect.objectContaining({ kinds: ['phone'], resultCode: 0, amount: 300, receipt: elsewhere }),
      ]);
      expect(await lastResort(w)).toBe(false);
      expect(await status(w, 'Completed', elsewhere)).toEqual({ applied: false });
      expect(await wallet.withdrawalOutcome(w.id)).toBeNull();
      expect(await wallet.balance(u.id)).toBe(700);
      expect((await payment(w.id)).status).toBe('pending');

      // The statement shows the payment, to this subscriber after all: the operator settles it.
      const statement = newReceipt();
      await review.resolveWithdrawal(w.id, resolution('paid', 'Achieng', statement));
      expect(await wallet.withdrawalOutcome(w.id)).toBe('settled');
      expect(await told(u)).toEqual({ sent: 1, failed: 0, unconfirmed: 0 });
      expect(await status(w, 'Failed')).toEqual({ applied: false });
      const contradicted = await payment(w.id);
      expect(contradicted).toMatchObject({ status: 'succeeded', receipt: statement, needsReview: true });
      expect(contradicted.resultDesc).toMatch(/^RESOLVED BY OPERATOR as paid .*; CONTRADICTED BY M-PESA: /);
      // Again, and the last resort: nothing more is said, nothing moves.
      expect(await status(w, 'Failed')).toEqual({ applied: false });
      expect(await lastResort(w)).toBe(false);
      expect((await payment(w.id)).resultDesc).toBe(contradicted.resultDesc);
      expect(await wallet.withdrawalOutcome(w.id)).toBe('settled');
      expect(await wallet.balance(u.id)).toBe(700);
      expect(await told(u)).toEqual({ sent: 1, failed: 0, unconfirmed: 0 });
    });

    check('moves nothing when M-PESA says paid after a release (flagged) or not paid after a settle', async () => {
      const { u, w } = await withdrawal(250);
      expect(await mpesa.handleB2cResult(b2cResult(w, null))).toEqual({ applied: true });
      expect(await wallet.balance(u.id)).toBe(1_000);
      // Transaction Status's late "Completed" (no result came before it that could be flagged).
      const late = newReceipt();
      expect(await status(w, 'Completed', late)).toEqual({ applied: false });
      expect(await wallet.withdrawalOutcome(w.id)).toBe('released');
      expect(await wallet.balance(u.id)).toBe(1_000);
      const released = await payment(w.id);
      expect(released).toMatchObject({
        status: 'failed',
        needsReview: true,
        receipt: late,
        resultDesc: `PAID AFTER RELEASE (receipt ${late}): needs an operator`,
        callbackMismatches: [],
      });
      // The last resort after it: the description stays, nothing moves.
      expect(await lastResort(w)).toBe(false);
      expect((await payment(w.id)).resultDesc).toBe(released.resultDesc);
      expect(await told(u)).toEqual({ sent: 0, failed: 1, unconfirmed: 0 });

      const paid = await withdrawal(300);
      const receipt = newReceipt();
      expect(await mpesa.handleB2cResult(b2cResult(paid.w, receipt))).toEqual({ applied: true });
      for (const answer of [
        () => status(paid.w, 'Failed').then((a) => a.applied),
        () => status(paid.w, 'Expired').then((a) => a.applied),
        () => lastResort(paid.w),
      ]) {
        expect(await answer()).toBe(false);
        expect(await wallet.withdrawalOutcome(paid.w.id)).toBe('settled');
        expect(await wallet.balance(paid.u.id)).toBe(700);
        expect(await payment(paid.w.id)).toMatchObject({ status: 'succeeded', receipt, resultCode: 0 });
      }
      expect(await told(paid.u)).toEqual({ sent: 1, failed: 0, unconfirmed: 0 });
    });

    check('finishes a payment as the ledger went when the ledger closed it but the payment was not', async () => {
      // Settled in the ledger (M-PESA's success), the process stopped before the payment's update;
      // then M-PESA's "not paid" comes: paid, as the ledger says, and flagged for the contradiction.
      const settled = await withdrawal(400);
      await wallet.settleWithdrawal(settled.w.id);
      expect(await status(settled.w, 'Failed')).toEqual({ applied: true });
      expect(await wallet.withdrawalOutcome(settled.w.id)).toBe('settled');
      expect(await payment(settled.w.id)).toMatchObject({ status: 'succeeded', needsReview: true });
      expect(await wallet.balance(settled.u.id)).toBe(600);
      expect(await told(settled.u)).toMatchObject({ failed: 0, unconfirmed: 0 });

      // Released in the ledger, the payment's update lost; then M-PESA says it paid: released, as the
      // ledger says, and flagged paid after release with M-PESA's receipt. The subscriber's offline
      // snapshot shows the money back.
      const released = await withdrawal(300);
      await wallet.releaseWithdrawal(released.w.id);
      expect(await offlineBalance(released.u)).toBe(700);
      const late = newReceipt();
      expect(await status(released.w, 'Completed', late)).toEqual({ applied: true });
      expect(await wallet.withdrawalOutcome(released.w.id)).toBe('released');
      expect(await payment(released.w.id)).toMatchObject({
        status: 'failed',
        needsReview: true,
        receipt: late,
        resultDesc: `PAID AFTER RELEASE (receipt ${late}): needs an operator`,
      });
      expect(await wallet.balance(released.u.id)).toBe(1_000);
      expect(await offlineBalance(released.u)).toBe(1_000);
      const sms = await told(released.u);
      expect(sms.sent).toBe(0);
      expect(sms.failed + sms.unconfirmed).toBe(1);
    });

    check("ends with the operator's outcome when M-PESA's answer reaches the ledger just after it", async () => {
      const cases: {
        outcome: 'paid' | 'not_paid';
        mpesaSays: 'Completed' | 'Failed';
        sameReceipt?: boolean;
        /** How the payment reads after both, given M-PESA's receipt and the operator's description. */
        then: (mpesaReceipt: string, resolved: string) => RegExp | string;
      }[] = [
        // Opposite outcomes: the ledger refuses M-PESA's (one outcome per withdrawal); it is flagged.
        {
          outcome: 'paid',
          mpesaSays: 'Failed',
          then: (_, resolved) =>
            new RegExp(`^${escape(resolved)}; CONTRADICTED BY M-PESA: M-PESA then said it did not pay`),
        },
        {
          outcome: 'not_paid',
          mpesaSays: 'Completed',
          then: (m) =>
            new RegExp(`^PAID AFTER RELEASE \\(receipt ${m}\\), after it was RESOLVED BY OPERATOR \\(Wanjiku\\)`),
        },
        // The same outcome: the ledger replays it, and M-PESA's receipt is checked against the operator's.
        {
          outcome: 'paid',
          mpesaSays: 'Completed',
          then: (m, resolved) =>
            new RegExp(`^${escape(resolved)}; CONTRADICTED BY M-PESA: M-PESA then gave receipt ${m}`),
        },
        { outcome: 'paid', mpesaSays: 'Completed', sameReceipt: true, then: (_, resolved) => resolved },
      ];
      for (const { outcome, mpesaSays, sameReceipt, then } of cases) {
        const { u, w } = await withdrawal(400);
        // A decisive answer about another transaction: flagged for an operator, money still held.
        const unmatched = statusAnswer(w, 'Completed', newReceipt(), 'AG_0_OTHER');
        expect(await statuses.handleB2cStatusResult(w.id, unmatched)).toEqual({ applied: false });
        expect(await payment(w.id)).toMatchObject({ status: 'pending', needsReview: true });
        const statement = outcome === 'paid' ? newReceipt() : undefined;
        const mpesaReceipt = sameReceipt ? statement! : newReceipt();
        let resolved = '';
        const answered = await meanwhileOnLedger(
          mpesaSays === 'Completed' ? 'settleWithdrawal' : 'releaseWithdrawal',
          async () => {
            resolved = (await review.resolveWithdrawal(w.id, resolution(outcome, 'Wanjiku', statement))).resultDesc!;
          },
          () => status(w, mpesaSays, mpesaReceipt),
        );
        expect(answered).toEqual({ applied: false });
        expect(await wallet.withdrawalOutcome(w.id)).toBe(outcome === 'paid' ? 'settled' : 'released');
        expect(await wallet.balance(u.id)).toBe(outcome === 'paid' ? 600 : 1_000);
        const row = await payment(w.id);
        expect(row).toMatchObject({
          status: outcome === 'paid' ? 'succeeded' : 'failed',
          resolution: outcome,
          resolvedBy: 'Wanjiku',
          needsReview: !sameReceipt,
          receipt: statement ?? mpesaReceipt,
        });
        const expected = then(mpesaReceipt, resolved);
        if (typeof expected === 'string') expect(row.resultDesc).toBe(expected);
        else expect(row.resultDesc).toMatch(expected);
        expect(await told(u)).toEqual(
          outcome === 'paid' ? { sent: 1, failed: 0, unconfirmed: 0 } : { sent: 0, failed: 1, unconfirmed: 0 },
        );
      }
    });

    check('applies one of two opposite answers, the first to reach the ledger, however they interleave', async () => {
      // In turn: the second answer read the payment open, then the first one ended it.
      const first = await withdrawal(400);
      const receipt = newReceipt();
      const second = await meanwhileOnLedger(
        'releaseWithdrawal',
        async () => expect(await mpesa.handleB2cResult(b2cResult(first.w, receipt))).toEqual({ applied: true }),
        () => status(first.w, 'Failed'),
      );
      expect(second).toEqual({ applied: false });
      expect(await wallet.withdrawalOutcome(first.w.id)).toBe('settled');
      expect(await payment(first.w.id)).toMatchObject({ status: 'succeeded', receipt });
      expect(await wallet.balance(first.u.id)).toBe(600);
      expect(await told(first.u)).toEqual({ sent: 1, failed: 0, unconfirmed: 0 });

      const other = await withdrawal(300);
      const late = newReceipt();
      const lost = await meanwhileOnLedger(
        'settleWithdrawal',
        async () => expect(await mpesa.handleB2cResult(b2cResult(other.w, null))).toEqual({ applied: true }),
        () => status(other.w, 'Completed', late),
      );
      expect(lost).toEqual({ applied: false });
      expect(await wallet.withdrawalOutcome(other.w.id)).toBe('released');
      expect(await payment(other.w.id)).toMatchObject({
        status: 'failed',
        needsReview: true,
        receipt: late,
        resultDesc: `PAID AFTER RELEASE (receipt ${late}): needs an operator`,
      });
      expect(await wallet.balance(other.u.id)).toBe(1_000);
      expect(await told(other.u)).toEqual({ sent: 0, failed: 1, unconfirmed: 0 });

      // At once, as they come: M-PESA's result and a Transaction Status answer saying the opposite.
      for (const resultPaid of [true, false, true, false]) {
        const { u, w } = await withdrawal(200);
        const r = newReceipt();
        const answers = await Promise.all([
          mpesa.handleB2cResult(b2cResult(w, resultPaid ? r : null)),
          status(w, resultPaid ? 'Failed' : 'Completed', r),
        ]);
        expect(answers.map((a) => a.applied).sort()).toEqual([false, true]);
        const outcome = await wallet.withdrawalOutcome(w.id);
        expect(outcome).not.toBeNull();
        const row = await payment(w.id);
        expect(row.status).toBe(outcome === 'settled' ? 'succeeded' : 'failed');
        expect(await wallet.balance(u.id)).toBe(outcome === 'settled' ? 800 : 1_000);
        if (outcome === 'released')
          expect(row).toMatchObject({
            needsReview: true,
            receipt: r,
            resultDesc: `PAID AFTER RELEASE (receipt ${r}): needs an operator`,
          });
        const sms = await told(u);
        expect(sms.sent + sms.failed + sms.unconfirmed).toBeLessThanOrEqual(1);
        expect(outcome === 'settled' ? sms.failed + sms.unconfirmed : sms.sent).toBe(0);
      }
    });

    check(
      "records M-PESA's receipt and tells the user once when a contradicting answer finished the payment first",
      async () => {
        // M-PESA's success settles the hold; before its payment's update, a "not paid" for the same
        // withdrawal arrives, finds the ledger settled and the payment open, and finishes it as paid
        // (without a receipt, flagged for the contradiction). The success then records its receipt
        // and the user gets the one "sent" SMS with it.
        const { u, w } = await withdrawal(300);
        const receipt = newReceipt();
        const own = wallet as unknown as Record<string, unknown>;
        const settle = wallet.settleWithdrawal.bind(wallet);
        own.settleWithdrawal = async (...args: Parameters<WalletService['settleWithdrawal']>) => {
          delete own.settleWithdrawal;
          const settled = await settle(...args);
          await mpesa.handleB2cResult(b2cResult(w, null));
          expect(await payment(w.id)).toMatchObject({ status: 'succeeded', receipt: null, needsReview: true });
          return settled;
        };
        try {
          await mpesa.handleB2cResult(b2cResult(w, receipt));
        } finally {
          delete own.settleWithdrawal;
        }
        expect(await wallet.withdrawalOutcome(w.id)).toBe('settled');
        expect(await wallet.balance(u.id)).toBe(700);
        expect(await payment(w.id)).toMatchObject({ status: 'succeeded', receipt, needsReview: true });
        expect(await told(u)).toEqual({ sent: 1, failed: 0, unconfirmed: 0 });
        expect((await sms(u.phoneNumber, 'mpesa.withdrawal_sent'))[0]).toContain(receipt);
        // The same success delivered again changes nothing and tells nobody twice.
        await mpesa.handleB2cResult(b2cResult(w, receipt));
        expect(await told(u)).toEqual({ sent: 1, failed: 0, unconfirmed: 0 });
      },
    );
  });
});
