import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { assertPositiveShillings, type Shillings } from '../common/money.js';
import { PG_UNIQUE_VIOLATION } from '../common/postgres-errors.js';
import type { Tx } from '../database/transaction.service.js';
import { type AccountKind, SystemAccount } from './account.entity.js';
import { Transfer, type TransferKind } from './transfer.entity.js';
import { WalletErrors } from './wallet.errors.js';

export interface TransferRequest {
  idempotencyKey: string;
  debitAccountId: string;
  creditAccountId: string;
  amount: Shillings;
  kind: TransferKind;
  loanId?: string | null;
}

export interface TransferResult {
  transfer: Transfer;
  /** True when the key had already moved this money: nothing moved this time. */
  replayed: boolean;
}

export interface LockedAccount {
  id: string;
  kind: AccountKind;
  balance: Shillings;
}

/** A number from a string that every process, now and later, computes the same. */
function stableHash(key: string): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0);
}

/**
 * The double-entry ledger: the only code that moves money. Every change of a balance is a
 * transfer row written in the same transaction, with both accounts locked: user wallets in id
 * order, then system rows in id order.
 */
@Injectable()
export class LedgerService {
  /** Each system account's rows, by shard (the migrations make them; they never change while running). */
  private readonly shards = new Map<SystemAccount, readonly string[]>();

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  private async shardIds(code: SystemAccount, manager: EntityManager): Promise<readonly string[]> {
    const cached = this.shards.get(code);
    if (cached) return cached;
    const rows: { id: string }[] = await manager.query('SELECT id FROM accounts WHERE code = $1 ORDER BY shard', [
      code,
    ]);
    if (!rows[0]) throw new Error(`system account ${code} is missing: run the migrations`);
    const ids = rows.map((r) => r.id);
    this.shards.set(code, ids);
    return ids;
  }

  /** The first row (shard 0) of a system account (created by the migrations). */
  async systemAccountId(code: SystemAccount, manager: EntityManager = this.dataSource.manager): Promise<string> {
    return (await this.shardIds(code, manager))[0];
  }

  /**
   * The row of a system account that the operations named by `key` use, always the same one
   * for the same key: operations with different keys lock the same row only as often as the
   * account has rows.
   */
  async systemAccountFor(
    code: SystemAccount,
    key: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<string> {
    const ids = await this.shardIds(code, manager);
    return ids[stableHash(key) % ids.length];
  }

  /** A system account's balance: the sum of its rows'. */
  async systemBalance(code: SystemAccount, manager: EntityManager = this.dataSource.manager): Promise<Shillings> {
    const [row] = await manager.query<{ balance: string }[]>(
      'SELECT coalesce(sum(balance), 0)::text AS balance FROM accounts WHERE code = $1',
      [code],
    );
    return Number(row.balance);
  }

  /** A user's wallet, opened on first need (safe when two requests open it at once). */
  async openWallet(manager: EntityManager, userId: string): Promise<string> {
    await manager.query(
      `INSERT INTO accounts (kind, user_id) VALUES ('user_wallet', $1) ON CONFLICT (user_id) DO NOTHING`,
      [userId],
    );
    const rows: { id: string }[] = await manager.query('SELECT id FROM accounts WHERE user_id = $1', [userId]);
    return rows[0].id;
  }

  /**
   * Opens (get-or-create) the wallets of these users and locks them, in account id order as every
   * lock is taken; their wallet ids, in the order of `userIds`.
   */
  async lockWallets(tx: Tx, userIds: readonly string[]): Promise<string[]> {
    const wallets: string[] = [];
    for (const userId of userIds) wallets.push(await this.openWallet(tx.manager, userId));
    await this.lockAccounts(tx, wallets);
    return wallets;
  }

  async findWalletId(userId: string, manager: EntityManager = this.dataSource.manager): Promise<string | null> {
    const rows: { id: string }[] = await manager.query('SELECT id FROM accounts WHERE user_id = $1', [userId]);
    return rows[0]?.id ?? null;
  }

  /** A user's wallet balance in one query; 0 when they have no wallet yet. */
  async walletBalance(userId: string, manager: EntityManager = this.dataSource.manager): Promise<Shillings> {
    const rows = await manager.query<{ balance: string }[]>('SELECT balance FROM accounts WHERE user_id = $1', [
      userId,
    ]);
    return rows[0] ? Number(rows[0].balance) : 0;
  }

  async balanceOf(accountId: string, manager: EntityManager = this.dataSource.manager): Promise<Shillings> {
    const rows: { balance: string }[] = await manager.query('SELECT balance FROM accounts WHERE id = $1', [accountId]);
    if (!rows[0]) throw WalletErrors.accountNotFound();
    return Number(rows[0].balance);
  }

  /**
   * Locks accounts for the rest of the transaction, always in one order (user wallets by id, then
   * system rows by id) so that two operations never wait on each other in a cycle. Operations
   * lock everything they will touch up front. System rows come last so that an operation waiting
   * for a wallet does not hold a row that operations on other wallets need.
   */
  async lockAccounts(tx: Tx, ids: readonly string[]): Promise<Map<string, LockedAccount>> {
    const unique = [...new Set(ids)];
    // Rows are locked as the sort emits them.
    const rows: { id: string; kind: AccountKind; balance: string }[] = await tx.manager.query(
      `SELECT id, kind, balance FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY kind = 'system', id FOR UPDATE`,
      [unique],
    );
    if (rows.length !== unique.length) throw WalletErrors.accountNotFound();
    return new Map(rows.map((r) => [r.id, { id: r.id, kind: r.kind, balance: Number(r.balance) }]));
  }

  /** Every transfer that names this loan, oldest first. */
  async transfersForLoan(loanId: string, manager: EntityManager = this.dataSource.manager): Promise<Transfer[]> {
    return manager.getRepository(Transfer).find({ where: { loanId }, order: { seq: 'ASC' } });
  }

  async findByKey(idempotencyKey: string, manager: EntityManager = this.dataSource.manager): Promise<Transfer | null> {
    return manager.getRepository(Transfer).findOneBy({ idempotencyKey });
  }

  /**
   * Moves `amount` from the debit to the credit account, exactly once per idempotency key:
   * the same key with the same content returns the original transfer; with other content it
   * fails with LEDGER.IDEMPOTENCY_CONFLICT. A user wallet is never overdrawn
   * (WALLET.INSUFFICIENT_FUNDS, and a database constraint behind it).
   */
  async transfer(tx: Tx, request: TransferRequest): Promise<TransferResult> {
    const amount = assertPositiveShillings(request.amount);
    if (request.debitAccountId === request.creditAccountId) throw WalletErrors.sameAccount();
    const wanted = { ...request, amount, loanId: request.loanId ?? null };

    const earlier = await this.findByKey(wanted.idempotencyKey, tx.manager);
    if (earlier) return this.replay(earlier, wanted, tx.manager);

    const locked = await this.lockAccounts(tx, [wanted.debitAccountId, wanted.creditAccountId]);
    const debit = locked.get(wanted.debitAccountId)!;
    if (debit.kind === 'user_wallet' && debit.balance < amount) {
      throw WalletErrors.insufficientFunds(debit.balance, amount);
    }

    const inserted: Transfer[] = await tx.manager.query(
      `INSERT INTO transfers (idempotency_key, debit_account_id, credit_account_id, amount, kind, loan_id)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING id`,
      [wanted.idempotencyKey, wanted.debitAccountId, wanted.creditAccountId, amount, wanted.kind, wanted.loanId],
    );
    if (!inserted.length) {
      // Another transaction committed the same key while we waited on the unique index.
      const winner = await this.findByKey(wanted.idempotencyKey, tx.manager);
      if (!winner) throw Object.assign(new Error('idempotency key vanished'), { code: PG_UNIQUE_VIOLATION });
      return this.replay(winner, wanted, tx.manager);
    }
    await tx.manager.query(
      `UPDATE accounts
          SET balance = balance + CASE WHEN id = $2 THEN $3::bigint ELSE -$3::bigint END, updated_at = now()
        WHERE id IN ($1, $2)`,
      [wanted.debitAccountId, wanted.creditAccountId, amount],
    );
    const transfer = await tx.manager
      .getRepository(Transfer)
      .findOneByOrFail({ id: (inserted[0] as { id: string }).id });
    return { transfer, replayed: false };
  }

  private async replay(
    existing: Transfer,
    wanted: Required<TransferRequest>,
    manager: EntityManager,
  ): Promise<TransferResult> {
    const same =
      existing.amount === wanted.amount &&
      existing.kind === wanted.kind &&
      (existing.loanId ?? null) === wanted.loanId &&
      (await this.sameAccount(existing.debitAccountId, wanted.debitAccountId, manager)) &&
      (await this.sameAccount(existing.creditAccountId, wanted.creditAccountId, manager));
    if (!same) throw WalletErrors.idempotencyConflict(wanted.idempotencyKey);
    return { transfer: existing, replayed: true };
  }

  /**
   * Two rows of one system account are one account: a transfer made against one row (before the
   * account was spread, or when it mapped the key elsewhere) is the same transfer asked again
   * against another.
   */
  private async sameAccount(a: string, b: string, manager: EntityManager): Promise<boolean> {
    if (a === b) return true;
    const [row] = await manager.query<{ rows: number; codes: number }[]>(
      `SELECT count(*)::int AS rows, count(DISTINCT code)::int AS codes
         FROM accounts WHERE id = ANY($1::uuid[]) AND kind = 'system'`,
      [[a, b]],
    );
    return row.rows === 2 && row.codes === 1;
  }
}
