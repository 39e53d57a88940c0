import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { isDomainError } from '../src/common/domain-error.js';
import { runMigrations } from '../src/database/connect-database.js';
import { dataSourceOptions } from '../src/database/data-source.options.js';
import { ClearingShards1795390417000 } from '../src/database/migrations/1795390417000-ClearingShards.js';
import { MIGRATIONS } from '../src/database/schema.js';
import { ENTITIES } from '../src/entities.js';
import type { DepositInput, DepositResult } from '../src/loans/repayments.service.js';
import { LoansService } from '../src/loans/loans.service.js';
import { OnboardingService } from '../src/onboarding/onboarding.service.js';
import type { User } from '../src/users/user.entity.js';
import { SystemAccount } from '../src/wallet/account.entity.js';
import { LedgerService } from '../src/wallet/ledger.service.js';
import { WalletService } from '../src/wallet/wallet.service.js';
import { ledgerViolations, moneySnapshot } from './support/invariants.js';
import { startTestApp, testConfig, uniquePhone } from './support/test-app.js';

/**
 * The migration that spread M-PESA clearing over rows (docs/money.md#m-pesa-clearing-spread-over-rows) keeps what was
 * made before it: deposits and settlements recorded against the one clearing row replay after it
 * with the same answers, and nothing moves. The "before" is made by reverting the migration on
 * the service's own data (which folds every row back into the first) and by writing a deposit as
 * the code before it did.
 */
describe('the migration that spread M-PESA clearing', () => {
  const service = () => startTestApp({ APP_ROLE: 'api' });
  async function codeOf(p: Promise<unknown>): Promise<string> {
    try {
      await p;
      return '';
    } catch (e) {
      if (isDomainError(e)) return e.code;
      throw e;
    }
  }

  it('deposits and settlements made against the one clearing row replay after it, and nothing moves', async () => {
    const tag = randomUUID().slice(0, 8);
    const made: { input: DepositInput; answer: DepositResult }[] = [];
    let lender: User;
    let wide: User;
    const withdrawals = { settled: `${tag}-settled`, open: `${tag}-open` };

    // 1. The service makes deposits (with allocation) and a settled and an open withdrawal.
    {
      const { app } = await service();
      try {
        const [onboarding, loans, ledger, wallet] = [
          app.get(OnboardingService),
          app.get(LoansService),
          app.get(LedgerService),
          app.get(WalletService),
        ];
        const db = app.get(DataSource);
        const deposit = async (input: DepositInput) => made.push({ input, answer: await loans.receiveDeposit(input) });
        lender = await onboarding.register(uniquePhone());
        await deposit({ userId: lender.id, amount: 5_000, reference: `${tag}-fund` });
        // A borrower whose wallet maps to a clearing row other than the first, so that its
        // replays are asked against another row than the one its deposits were recorded on.
        const first = await ledger.systemAccountId(SystemAccount.MpesaClearing);
        for (let i = 0; i < 100; i += 1) {
          const candidate = await onboarding.register(uniquePhone());
          if ((await wallet.clearingAccountFor(await ledger.openWallet(db.manager, candidate.id))) !== first) {
            wide = candidate;
            break;
          }
        }
        expect(wide!).toBeDefined();
        for (const [amount, rate] of [
          [1_000, 150],
          [800, 100],
        ]) {
          const loan = await loans.requestLoan({
            borrowerId: wide!.id,
            lenderPhoneNumber: lender.phoneNumber,
            amount,
            repaymentPerDeposit: rate,
          });
          await loans.approve(loan.id, lender.id);
        }
        for (const [k, amount] of [400, 120, 700].entries())
          await deposit({ userId: wide!.id, amount, reference: `${tag}-dep-${k}` });
        expect(made.slice(1).every((m) => m.answer.deducted > 0)).toBe(true);
        await wallet.holdWithdrawal({ userId: wide!.id, amount: 200, withdrawalId: withdrawals.settled });
        await wallet.settleWithdrawal(withdrawals.settled);
        await wallet.holdWithdrawal({ userId: wide!.id, amount: 100, withdrawalId: withdrawals.open });
      } finally {
        await app.close();
      }
    }

    // 2. Back to before the migration, and a deposit written as the code before it wrote one.
    const ds = await new DataSource(dataSourceOptions(testConfig(), ENTITIES)).initialize();
    let firstRow: string;
    const old = { userId: lender!.id, amount: 300, reference: `${tag}-old` };
    try {
      // The clearing migration and any made after it, undone latest first.
      const undone = MIGRATIONS.slice(MIGRATIONS.indexOf(ClearingShards1795390417000));
      expect(undone[0]).toBe(ClearingShards1795390417000);
      for (let i = 0; i < undone.length; i += 1) await ds.undoLastMigration({ transaction: 'each' });
      const clearing = await ds.query<{ id: string }[]>(`SELECT id FROM accounts WHERE code = 'mpesa_clearing'`);
      expect(clearing).toHaveLength(1);
      firstRow = clearing[0].id;
      const [{ n: offRow }] = await ds.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM transfers WHERE kind = 'deposit' AND debit_account_id <> $1`,
        [firstRow],
      );
      expect(offRow).toBe(0);
      expect(await ledgerViolations(ds)).toEqual([]);
      const [{ id: lenderWallet }] = await ds.query<{ id: string }[]>(`SELECT id FROM accounts WHERE user_id = $1`, [
        old.userId,
      ]);
      await ds.transaction(async (m) => {
        await m.query(
          `INSERT INTO transfers (idempotency_key, debit_account_id, credit_account_id, amount, kind)
           VALUES ($1, $2, $3, $4, 'deposit')`,
          [`deposit:${old.reference}`, firstRow, lenderWallet, old.amount],
        );
        await m.query(
          `UPDATE accounts SET balance = balance + CASE WHEN id = $2 THEN $3::bigint ELSE -$3::bigint END
            WHERE id IN ($1, $2)`,
          [firstRow, lenderWallet, old.amount],
        );
      });
      expect(await ledgerViolations(ds)).toEqual([]);

      // 3. The migration again: the first row keeps its id and everything on it, new rows are empty.
      expect(await runMigrations(ds)).toEqual(undone.map((migration) => new migration().name));
      const rows = await ds.query<{ id: string; shard: number; balance: string }[]>(
        `SELECT id, shard, balance::text FROM accounts WHERE code = 'mpesa_clearing' ORDER BY shard`,
      );
      expect(rows.map((r) => r.shard)).toEqual(Array.from({ length: 16 }, (_, i) => i));
      expect(rows[0].id).toBe(firstRow);
      expect(rows.slice(1).every((r) => r.balance === '0')).toBe(true);
      expect(await ledgerViolations(ds)).toEqual([]);
    } finally {
      await ds.destroy();
    }

    // 4. The service after it: every earlier deposit and settlement replays, and nothing moves.
    const { app } = await service();
    try {
      const [loans, ledger, wallet] = [app.get(LoansService), app.get(LedgerService), app.get(WalletService)];
      const db = app.get(DataSource);
      const widesRow = await wallet.clearingAccountFor((await ledger.findWalletId(wide!.id))!);
      expect(widesRow).not.toBe(firstRow!);

      const before = await moneySnapshot(db);
      for (const { input, answer } of made) {
        const again = await loans.receiveDeposit(input);
        expect(again).toEqual({ ...answer, replayed: true, balance: again.balance });
      }
      const oldAgain = await loans.receiveDeposit(old);
      expect(oldAgain).toMatchObject({ replayed: true, amount: 300, deducted: 0, allocations: [] });
      expect((await ledger.findByKey(`deposit:${old.reference}`))?.id).toBe(oldAgain.transferId);
      expect((await wallet.settleWithdrawal(withdrawals.settled)).replayed).toBe(true);
      expect(await moneySnapshot(db)).toEqual(before);

      // Asked with other content, an old deposit is still a conflict, and a settled withdrawal
      // cannot be released.
      expect(await codeOf(loans.receiveDeposit({ ...made[1].input, amount: made[1].input.amount + 1 }))).toBe(
        'LEDGER.IDEMPOTENCY_CONFLICT',
      );
      expect(await codeOf(wallet.releaseWithdrawal(withdrawals.settled))).toBe('WITHDRAWAL.ALREADY_CLOSED');
      expect(await moneySnapshot(db)).toEqual(before);

      // What comes after: the open withdrawal settles to the first row, a new deposit debits the
      // wallet's own row.
      expect((await wallet.settleWithdrawal(withdrawals.open)).transfer.creditAccountId).toBe(firstRow!);
      const next = await loans.receiveDeposit({ userId: wide!.id, amount: 500, reference: `${tag}-after` });
      expect(next.replayed).toBe(false);
      expect((await ledger.findByKey(`deposit:${tag}-after`))?.debitAccountId).toBe(widesRow);
      expect(await ledgerViolations(db)).toEqual([]);
    } finally {
      await app.close();
    }
  }, 120_000);
});
