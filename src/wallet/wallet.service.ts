import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, type EntityManager } from 'typeorm';
import { assertPositiveShillings, type Shillings } from '../common/money.js';
import { TransactionService, type Tx } from '../database/transaction.service.js';
import { SystemAccount } from './account.entity.js';
import { LedgerService, type TransferResult } from './ledger.service.js';
import type { TransferKind } from './transfer.entity.js';
import { WalletErrors } from './wallet.errors.js';

export interface WalletEntry {
  id: string;
  kind: TransferKind;
  /** Positive when money came in, negative when it went out. */
  amount: Shillings;
  loanId: string | null;
  /** The other wallet's owner, when the other side is a user. */
  counterpartyUserId: string | null;
  createdAt: Date;
}

export interface WalletPage {
  items: WalletEntry[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** A transfer as a wallet's history reads it. */
interface EntryRow {
  id: string;
  seq: string;
  kind: TransferKind;
  amount: string;
  loan_id: string | null;
  debit_account_id: string;
  counterparty_user_id: string | null;
  created_at: Date;
}

/** A transfer as an entry of the wallet `walletId`: signed from its side. */
function entryOf(r: EntryRow, walletId: string): WalletEntry {
  return {
    id: r.id,
    kind: r.kind,
    amount: r.debit_account_id === walletId ? -Number(r.amount) : Number(r.amount),
    loanId: r.loan_id,
    counterpartyUserId: r.counterparty_user_id,
    createdAt: r.created_at,
  };
}

/** Cursors are opaque to clients; inside, the ledger sequence number of the last entry shown. */
function encodeCursor(seq: string): string {
  return Buffer.from(`s${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): string | null {
  const text = Buffer.from(cursor, 'base64url').toString();
  return /^s\d{1,18}$/.test(text) ? text.slice(1) : null;
}

/** Wallet operations on top of the ledger. Knows nothing of loans. */
/** A withdrawal's two ledger keys: its hold, and its one outcome (settle or release share it). */
const holdKey = (withdrawalId: string) => `withdrawal:${withdrawalId}:hold`;
const outcomeKey = (withdrawalId: string) => `withdrawal:${withdrawalId}:outcome`;

@Injectable()
export class WalletService {
  constructor(
    private readonly ledger: LedgerService,
    private readonly transactions: TransactionService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async balance(userId: string): Promise<Shillings> {
    return this.ledger.walletBalance(userId);
  }

  /** Newest first, `limit` at a time (1–50). */
  async history(userId: string, options: { limit?: number; before?: string } = {}): Promise<WalletPage> {
    const limit = Math.min(Math.max(Math.trunc(options.limit ?? 10), 1), 50);
    const walletId = await this.ledger.findWalletId(userId);
    if (!walletId) return { items: [], nextCursor: null };
    const cursor = options.before ? decodeCursor(options.before) : null;
    const rows: EntryRow[] = await this.dataSource.query(
      `SELECT t.id, t.seq, t.kind, t.amount, t.loan_id, t.debit_account_id, t.created_at, other.user_id AS counterparty_user_id
         FROM transfers t
         JOIN accounts other
           ON other.id = CASE WHEN t.debit_account_id = $1 THEN t.credit_account_id ELSE t.debit_account_id END
        WHERE (t.debit_account_id = $1 OR t.credit_account_id = $1)
          AND ($2::bigint IS NULL OR t.seq < $2::bigint)
        ORDER BY t.seq DESC
        LIMIT $3`,
      [walletId, cursor, limit + 1],
    );
    const page = rows.slice(0, limit);
    const items = page.map((r) => entryOf(r, walletId));
    const last = page[page.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null };
  }

  /** Several wallets' balances in one query, by user id (0 for a user with no wallet yet). */
  async balances(userIds: readonly string[]): Promise<Map<string, Shillings>> {
    const rows: { user_id: string; balance: string }[] = await this.dataSource.query(
      'SELECT user_id, balance FROM accounts WHERE user_id = ANY($1::uuid[])',
      [[...new Set(userIds)]],
    );
    const found = new Map(rows.map((r) => [r.user_id, Number(r.balance)]));
    return new Map(userIds.map((id) => [id, found.get(id) ?? 0]));
  }

  /**
   * The newest `limit` entries (1–50) of several wallets in one query, by user id: each list as
   * history() gives its first page (empty for a user with no wallet yet).
   */
  async latestEntries(userIds: readonly string[], limit: number): Promise<Map<string, WalletEntry[]>> {
    const unique = [...new Set(userIds)];
    const rows: (EntryRow & { user_id: string; wallet_id: string })[] = await this.dataSource.query(
      `SELECT w.user_id, w.id AS wallet_id, t.*
         FROM accounts w
         CROSS JOIN LATERAL (
           SELECT t.id, t.seq, t.kind, t.amount, t.loan_id, t.debit_account_id, t.created_at,
                  other.user_id AS counterparty_user_id
             FROM transfers t
             JOIN accounts other
               ON other.id = CASE WHEN t.debit_account_id = w.id THEN t.credit_account_id ELSE t.debit_account_id END
            WHERE t.debit_account_id = w.id OR t.credit_account_id = w.id
            ORDER BY t.seq DESC
            LIMIT $2
         ) t
        WHERE w.user_id = ANY($1::uuid[])
        ORDER BY w.user_id, t.seq DESC`,
      [unique, Math.min(Math.max(Math.trunc(limit), 1), 50)],
    );
    const entries = new Map<string, WalletEntry[]>(unique.map((id) => [id, []]));
    for (const r of rows) entries.get(r.user_id)!.push(entryOf(r, r.wallet_id));
    return entries;
  }

  /**
   * The M-PESA clearing row this wallet's deposits debit. Clearing is spread over several rows,
   * chosen by the wallet, so deposits to different wallets seldom wait for one another, and a
   * wallet's deposits (which take turns on the wallet anyway) all use the same one.
   */
  clearingAccountFor(walletId: string, manager?: EntityManager): Promise<string> {
    return this.ledger.systemAccountFor(SystemAccount.MpesaClearing, walletId, manager);
  }

  /**
   * Money that arrived from M-PESA (or an operator), keyed by its receipt: the same receipt never
   * credits twice. Called by the deposit use case, which allocates to debts in the same transaction.
   */
  async creditDeposit(
    tx: Tx,
    input: { userId: string; amount: Shillings; reference: string },
  ): Promise<TransferResult> {
    const [walletId] = await this.ledger.openWallets(tx.manager, [input.userId]);
    return this.creditDepositTo(tx, walletId, input);
  }

  /** creditDeposit, to a wallet its caller has opened (and perhaps locked) already. */
  async creditDepositTo(
    tx: Tx,
    walletId: string,
    input: { amount: Shillings; reference: string },
  ): Promise<TransferResult> {
    const clearing = await this.clearingAccountFor(walletId, tx.manager);
    return this.ledger.transfer(tx, {
      idempotencyKey: `deposit:${input.reference}`,
      debitAccountId: clearing,
      creditAccountId: walletId,
      amount: input.amount,
      kind: 'deposit',
    });
  }

  /**
   * Phase one of a withdrawal: the money leaves the wallet for the pending account. In the
   * caller's transaction when given (so the request it belongs to is recorded with it).
   */
  async holdWithdrawal(
    input: { userId: string; amount: Shillings; withdrawalId: string },
    outer?: Tx,
  ): Promise<TransferResult> {
    const amount = assertPositiveShillings(input.amount);
    const hold = async (tx: Tx) => {
      const walletId = await this.ledger.openWallet(tx.manager, input.userId);
      const pending = await this.ledger.systemAccountId(SystemAccount.WithdrawalsPending, tx.manager);
      return this.ledger.transfer(tx, {
        idempotencyKey: holdKey(input.withdrawalId),
        debitAccountId: walletId,
        creditAccountId: pending,
        amount,
        kind: 'withdrawal_hold',
      });
    };
    return outer ? hold(outer) : this.transactions.run(hold);
  }

  /** Whether money is held for this withdrawal (phase one happened). */
  async isWithdrawalHeld(withdrawalId: string, manager?: EntityManager): Promise<boolean> {
    return (await this.ledger.findByKey(holdKey(withdrawalId), manager)) !== null;
  }

  /** How the ledger ended this withdrawal's hold: settled (paid out), released (given back), or not yet. */
  async withdrawalOutcome(withdrawalId: string, manager?: EntityManager): Promise<'settled' | 'released' | null> {
    const outcome = await this.ledger.findByKey(outcomeKey(withdrawalId), manager);
    if (!outcome) return null;
    return outcome.kind === 'withdrawal_settle' ? 'settled' : 'released';
  }

  /**
   * M-PESA paid out: the held money leaves Deni. In the caller's transaction when given (an
   * operator's resolution records the payment's outcome with it).
   */
  settleWithdrawal(withdrawalId: string, outer?: Tx): Promise<TransferResult> {
    return this.closeWithdrawal(withdrawalId, 'withdrawal_settle', outer);
  }

  /** M-PESA failed: the held money goes back to the wallet. In the caller's transaction when given. */
  releaseWithdrawal(withdrawalId: string, outer?: Tx): Promise<TransferResult> {
    return this.closeWithdrawal(withdrawalId, 'withdrawal_release', outer);
  }

  private closeWithdrawal(
    withdrawalId: string,
    kind: 'withdrawal_settle' | 'withdrawal_release',
    outer?: Tx,
  ): Promise<TransferResult> {
    const close = async (tx: Tx) => {
      const hold = await this.ledger.findByKey(holdKey(withdrawalId), tx.manager);
      if (!hold) throw WalletErrors.withdrawalNotFound();
      // Its first row: settlements already take turns on the pending account, so spreading
      // their side of clearing would gain nothing.
      const clearing = await this.ledger.systemAccountId(SystemAccount.MpesaClearing, tx.manager);
      // One outcome per withdrawal: settle and release share a key, so the second different
      // outcome is refused as an idempotency conflict, and a repeat of the same one is a no-op.
      try {
        return await this.ledger.transfer(tx, {
          idempotencyKey: outcomeKey(withdrawalId),
          debitAccountId: hold.creditAccountId,
          creditAccountId: kind === 'withdrawal_settle' ? clearing : hold.debitAccountId,
          amount: hold.amount,
          kind,
        });
      } catch (e) {
        if ((e as { code?: string }).code === 'LEDGER.IDEMPOTENCY_CONFLICT') throw WalletErrors.withdrawalClosed();
        throw e;
      }
    };
    return outer ? close(outer) : this.transactions.run(close);
  }
}
