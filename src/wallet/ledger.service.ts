import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { assertPositiveShillings, type Shillings } from '../common/money.js';
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

/**
 * A transfer asked for: moved now, with both accounts' balances just after it; or `replayed`,
 * when the key had already moved this money and nothing moved this time.
 */
export type TransferResult =
  | { transfer: Transfer; replayed: false; balances: { debit: Shillings; credit: Shillings } }
  | { transfer: Transfer; replayed: true };

/**
 * What the transfer statement returns: the debit account's balance before it, and when it wrote
 * the transfer, its row and both accounts' new balances (else nulls).
 */
interface MoveRow {
  debit_before: string;
  id: string | null;
  seq: string;
  idempotency_key: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: string;
  kind: TransferKind;
  loan_id: string | null;
  created_at: Date;
  debit_balance: string;
  credit_balance: string;
}

function transferFrom(row: MoveRow): Transfer {
  return Object.assign(new Transfer(), {
    id: row.id!,
    seq: Number(row.seq),
    idempotencyKey: row.idempotency_key,
    debitAccountId: row.debit_account_id,
    creditAccountId: row.credit_account_id,
    amount: Number(row.amount),
    kind: row.kind,
    loanId: row.loan_id,
    createdAt: row.created_at,
  });
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
  /**
   * The accounts each open transaction has locked, by its entity manager (one per transaction,
   * then dropped). Row locks last until the transaction ends, as long as nothing rolls back to a
   * savepoint: Deni makes none (no nested transactions), and must not start to without clearing
   * this, or a transfer would skip locks the rollback released.
   */
  private readonly held = new WeakMap<EntityManager, Set<string>>();

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

  /**
   * A user's wallet, opened on first need (safe when two requests open it at once): one query
   * when it is opened here, as on registration.
   */
  async openWallet(manager: EntityManager, userId: string): Promise<string> {
    const opened: { id: string }[] = await manager.query(
      `INSERT INTO accounts (kind, user_id) VALUES ('user_wallet', $1) ON CONFLICT (user_id) DO NOTHING RETURNING id`,
      [userId],
    );
    if (opened[0]) return opened[0].id;
    const rows: { id: string }[] = await manager.query('SELECT id FROM accounts WHERE user_id = $1', [userId]);
    return rows[0].id;
  }

  /**
   * The wallets of these users, in the order of `userIds`, opened on first need: one query when
   * they all have one already, as the parties to money movements almost always do.
   */
  async openWallets(manager: EntityManager, userIds: readonly string[]): Promise<string[]> {
    const unique = [...new Set(userIds)];
    const find = async () => {
      const rows: { user_id: string; id: string }[] = await manager.query(
        'SELECT user_id, id FROM accounts WHERE user_id = ANY($1::uuid[])',
        [unique],
      );
      return new Map(rows.map((r) => [r.user_id, r.id]));
    };
    let wallets = await find();
    const missing = unique.filter((id) => !wallets.has(id));
    if (missing.length > 0) {
      await manager.query(
        `INSERT INTO accounts (kind, user_id) SELECT 'user_wallet', unnest($1::uuid[]) ON CONFLICT (user_id) DO NOTHING`,
        [missing],
      );
      wallets = await find();
    }
    return userIds.map((id) => {
      const wallet = wallets.get(id);
      if (!wallet) throw WalletErrors.accountNotFound();
      return wallet;
    });
  }

  /**
   * Opens (get-or-create) the wallets of these users and locks them, in account id order as every
   * lock is taken; their wallet ids, in the order of `userIds`.
   */
  async lockWallets(tx: Tx, userIds: readonly string[]): Promise<string[]> {
    const wallets = await this.openWallets(tx.manager, userIds);
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
    const held = this.held.get(tx.manager) ?? new Set<string>();
    for (const id of unique) held.add(id);
    this.held.set(tx.manager, held);
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
   * (WALLET.INSUFFICIENT_FUNDS, and a database constraint behind it). One statement when money
   * moves and the transaction holds both accounts' locks already (a deposit takes every lock it
   * needs up front); else the two accounts are locked first, in the order every lock is taken.
   */
  async transfer(tx: Tx, request: TransferRequest): Promise<TransferResult> {
    const amount = assertPositiveShillings(request.amount);
    if (request.debitAccountId === request.creditAccountId) throw WalletErrors.sameAccount();
    const wanted = { ...request, amount, loanId: request.loanId ?? null };
    const { debitAccountId: debit, creditAccountId: credit } = wanted;
    const held = this.held.get(tx.manager);
    if (!held?.has(debit) || !held.has(credit)) await this.lockAccounts(tx, [debit, credit]);

    // Under the locks, in one statement: the debit's balance checked, the transfer written unless
    // its key was used before, and both balances moved only when it was written.
    const [row]: MoveRow[] = await tx.manager.query(
      `WITH debit AS (
         SELECT kind, balance FROM accounts WHERE id = $2
       ), moved AS (
         INSERT INTO transfers (idempotency_key, debit_account_id, credit_account_id, amount, kind, loan_id)
         SELECT $1::varchar, $2::uuid, $3::uuid, $4::bigint, $5::varchar, $6::uuid
           FROM debit WHERE kind <> 'user_wallet' OR balance >= $4::bigint
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id, seq, idempotency_key, debit_account_id, credit_account_id, amount, kind, loan_id, created_at
       ), balances AS (
         UPDATE accounts
            SET balance = balance + CASE WHEN id = $3 THEN $4::bigint ELSE -$4::bigint END, updated_at = now()
          WHERE id IN ($2, $3) AND EXISTS (SELECT 1 FROM moved)
         RETURNING id, balance
       )
       SELECT debit.balance AS debit_before, moved.*,
              (SELECT balance FROM balances WHERE id = $2) AS debit_balance,
              (SELECT balance FROM balances WHERE id = $3) AS credit_balance
         FROM debit LEFT JOIN moved ON true`,
      [wanted.idempotencyKey, debit, credit, amount, wanted.kind, wanted.loanId],
    );
    if (row.id !== null) {
      return {
        transfer: transferFrom(row),
        replayed: false,
        balances: { debit: Number(row.debit_balance), credit: Number(row.credit_balance) },
      };
    }
    // Nothing written: the key was used before (a replay, perhaps asked again after the money was
    // spent, or committed by another transaction while this one waited on the unique index), or
    // else the debit is a user wallet short of the amount (the only other way the insert skips:
    // a key whose first writer rolled back is written here, PostgreSQL trying the insert again).
    const earlier = await this.findByKey(wanted.idempotencyKey, tx.manager);
    if (earlier) return this.replay(earlier, wanted, tx.manager);
    throw WalletErrors.insufficientFunds(Number(row.debit_before), amount);
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
    return { transfer: existing, replayed: true as const };
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
