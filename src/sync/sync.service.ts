import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DomainError, isDomainError } from '../common/domain-error.js';
import { Loan } from '../loans/loan.entity.js';
import { LoansService } from '../loans/loans.service.js';
import { LedgerService } from '../wallet/ledger.service.js';
import { WalletService } from '../wallet/wallet.service.js';
import type { SyncLoan, SyncOperationType, SyncPull, SyncResult } from './sync.types.js';
import { TransactionService, type Tx } from '../database/transaction.service.js';
import { SyncOperation, type SyncOutcome } from './sync-operation.entity.js';

/** Refusals that mean "the loan moved on since the device saw it": the server's state wins. */
const CONFLICTS = new Set(['LOAN.NOT_PENDING', 'LOAN.NOT_ACTIVE', 'LOAN.REPAYMENT_EXCEEDS_OUTSTANDING']);

function toSyncLoan(loan: Loan, userId: string): SyncLoan {
  return {
    id: loan.id,
    role: loan.borrowerId === userId ? 'borrower' : 'lender',
    status: loan.status,
    principal: loan.principal,
    outstanding: loan.outstanding,
    repaymentPerDeposit: loan.repaymentPerDeposit,
    borrowerId: loan.borrowerId,
    lenderId: loan.lenderId,
    createdAt: loan.createdAt,
    updatedAt: loan.updatedAt,
    approvedAt: loan.approvedAt,
    closedAt: loan.closedAt,
    expiresAt: loan.expiresAt,
  };
}

/** Whether the loan is already where the operation wanted it, by this user's hand. */
function alreadyDone(type: SyncOperationType, loan: Loan, userId: string): boolean {
  switch (type) {
    case 'loan.approve':
      return loan.lenderId === userId && (loan.status === 'ACTIVE' || loan.status === 'REPAID');
    case 'loan.decline':
      return loan.lenderId === userId && loan.status === 'DECLINED';
    case 'loan.cancel':
      return loan.borrowerId === userId && loan.status === 'CANCELLED';
    default:
      return false;
  }
}

export interface SyncOperationInput {
  opId: string;
  type: SyncOperationType;
  payload: Record<string, unknown>;
}

export interface ApplyOptions {
  key?: string;
  onRecorded?: (tx: Tx, result: SyncResult) => Promise<void>;
}

const badPayload = (what: string) => new DomainError('SYNC.BAD_PAYLOAD', 'invalid', `payload: ${what}`);

function text(payload: Record<string, unknown>, name: string): string {
  const v = payload[name];
  if (typeof v !== 'string' || v.length === 0 || v.length > 100) throw badPayload(`${name} must be a string`);
  return v;
}

function whole(payload: Record<string, unknown>, name: string): number {
  const v = payload[name];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
    throw badPayload(`${name} must be a whole number of shillings`);
  return v;
}

/** Cursors are opaque to clients; inside, a transaction-id watermark (see pull). */
function encodeCursor(xid: bigint): string {
  return Buffer.from(`x${xid}`).toString('base64url');
}

function decodeCursor(cursor: string | undefined): bigint {
  if (!cursor) return 0n;
  const raw = Buffer.from(cursor, 'base64url').toString();
  if (!/^x\d{1,20}$/.test(raw))
    throw new DomainError('SYNC.BAD_CURSOR', 'invalid', 'Unknown cursor; pull again without one', { field: 'since' });
  return BigInt(raw.slice(1));
}

/**
 * The mobile sync API (seed phase 3): a device pushes the operations its user made offline, each
 * applied once by its client id through the same loan services as every other channel, and pulls
 * what changed since its last pull.
 */
@Injectable()
export class SyncService {
  private readonly logger = new Logger(SyncService.name);

  constructor(
    private readonly loans: LoansService,
    private readonly wallet: WalletService,
    private readonly ledger: LedgerService,
    private readonly transactions: TransactionService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /** Applies each operation on its own, in order: one bad operation does not sink the rest. */
  async push(userId: string, deviceId: string, operations: readonly SyncOperationInput[]): Promise<SyncResult[]> {
    const results: SyncResult[] = [];
    for (const op of operations) {
      try {
        results.push(await this.applyOnce(userId, deviceId, op));
      } catch (e) {
        // Not the operation's fault: nothing is recorded, so the device's retry can still apply it.
        this.logger.error({ err: e, opId: op.opId }, 'sync operation failed');
        results.push({
          opId: op.opId,
          status: 'rejected',
          code: 'INTERNAL',
          message: 'Try this operation again later',
        });
      }
    }
    return results;
  }

  /**
   * Applies one operation once, by its id, and records the outcome (`applied`, `rejected` with a
   * code, or `conflict` with the server's state); a repeat answers `duplicate` with the first
   * outcome. Domain refusals are outcomes; anything else (the database went away) is thrown and
   * nothing is recorded, so the caller may try again. `onRecorded` runs in the transaction that
   * records the outcome, so whatever it writes (an SMS in the outbox) happens exactly once too.
   * `key` overrides the idempotency key of the write (a USSD action's own key).
   */
  async applyOnce(
    userId: string,
    deviceId: string,
    op: SyncOperationInput,
    options: ApplyOptions = {},
  ): Promise<SyncResult> {
    const repo = this.dataSource.getRepository(SyncOperation);
    const earlier = await repo.findOneBy({ opId: op.opId });
    if (earlier) return this.duplicate(earlier, userId, op.opId);

    let outcome: SyncOutcome;
    let result: Record<string, unknown>;
    try {
      const loan = await this.apply(userId, op, options.key ?? `sync:${op.opId}`);
      outcome = 'applied';
      result = { loan: toSyncLoan(loan, userId) };
    } catch (e) {
      if (!isDomainError(e)) throw e;
      const loanId = typeof op.payload.loanId === 'string' ? op.payload.loanId : undefined;
      const current = CONFLICTS.has(e.code) && loanId ? (await this.loans.getForParty(loanId, userId)).loan : null;
      if (current && alreadyDone(op.type, current, userId)) {
        // Applied earlier by this very operation (a retry after a crash) or by the same user on
        // another channel: what was asked for is what the server has.
        outcome = 'applied';
        result = { loan: toSyncLoan(current, userId) };
      } else if (current) {
        outcome = 'conflict';
        result = { code: e.code, message: e.message, serverState: toSyncLoan(current, userId) };
      } else {
        outcome = 'rejected';
        result = { code: e.code, message: e.message };
      }
    }
    return this.record(userId, deviceId, op, outcome, result, options);
  }

  /**
   * Like applyOnce for work of another kind than a loan operation (a withdrawal from the USSD
   * offline queue): `work` runs unless the id was recorded before; a domain refusal is recorded as
   * rejected, anything else is thrown and nothing recorded.
   */
  async runOnce(
    userId: string,
    deviceId: string,
    op: { opId: string; type: string },
    work: () => Promise<Record<string, unknown>>,
    options: ApplyOptions = {},
  ): Promise<SyncResult> {
    const earlier = await this.dataSource.getRepository(SyncOperation).findOneBy({ opId: op.opId });
    if (earlier) return this.duplicate(earlier, userId, op.opId);
    let outcome: SyncOutcome = 'applied';
    let result: Record<string, unknown>;
    try {
      result = await work();
    } catch (e) {
      if (!isDomainError(e)) throw e;
      outcome = 'rejected';
      result = { code: e.code, message: e.message };
    }
    return this.record(userId, deviceId, op, outcome, result, options);
  }

  /**
   * Closes an operation without applying it (the offline queue gave up on it): recorded as
   * rejected with `code`, so a late attempt to apply it finds it done. A duplicate if it was
   * recorded before (then that outcome stands).
   */
  async refuse(
    userId: string,
    deviceId: string,
    op: { opId: string; type: string },
    code: string,
    message: string,
    options: ApplyOptions = {},
  ) {
    const earlier = await this.dataSource.getRepository(SyncOperation).findOneBy({ opId: op.opId });
    if (earlier) return this.duplicate(earlier, userId, op.opId);
    return this.record(userId, deviceId, op, 'rejected', { code, message }, options);
  }

  private async record(
    userId: string,
    deviceId: string,
    op: { opId: string; type: string },
    outcome: SyncOutcome,
    result: Record<string, unknown>,
    options: ApplyOptions,
  ): Promise<SyncResult> {
    const recorded = await this.transactions.run(async (tx) => {
      const inserted: unknown[] = await tx.manager.query(
        `INSERT INTO sync_operations (op_id, user_id, device_id, type, outcome, result)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (op_id) DO NOTHING RETURNING op_id`,
        [op.opId, userId, deviceId, op.type, outcome, JSON.stringify(result)],
      );
      if (inserted.length > 0 && options.onRecorded)
        await options.onRecorded(tx, { opId: op.opId, status: outcome, ...result });
      return inserted.length > 0;
    });
    if (!recorded) {
      // The same operation arrived twice at once: the first recorded answer is the answer.
      const winner = await this.dataSource.getRepository(SyncOperation).findOneBy({ opId: op.opId });
      if (winner) return this.duplicate(winner, userId, op.opId);
    }
    return { opId: op.opId, status: outcome, ...result };
  }

  private duplicate(earlier: SyncOperation, userId: string, opId: string): SyncResult {
    if (earlier.userId !== userId) {
      return {
        opId,
        status: 'rejected',
        code: 'SYNC.OP_ID_TAKEN',
        message: 'This operation id belongs to another user',
      };
    }
    return {
      opId,
      status: 'duplicate',
      outcome: earlier.outcome,
      ...earlier.result,
      message: `Already ${earlier.outcome}`,
    };
  }

  private async apply(userId: string, op: SyncOperationInput, key: string): Promise<Loan> {
    const p = op.payload;
    switch (op.type) {
      case 'loan.request':
        return this.loans.requestLoan({
          borrowerId: userId,
          lenderPhoneNumber: text(p, 'lenderPhoneNumber'),
          amount: whole(p, 'amount'),
          repaymentPerDeposit: whole(p, 'repaymentPerDeposit'),
          requestKey: key,
        });
      case 'loan.approve':
        return this.loans.approve(text(p, 'loanId'), userId);
      case 'loan.decline':
        return this.loans.decline(text(p, 'loanId'), userId);
      case 'loan.cancel':
        return this.loans.cancel(text(p, 'loanId'), userId);
      case 'loan.repay':
        return this.loans.repay(text(p, 'loanId'), userId, whole(p, 'amount'), key);
    }
  }

  /**
   * What changed for the user since the cursor. Rows carry the id of the transaction that last
   * wrote them; a pull returns rows of transactions below the oldest one still running (all of
   * which are finished), and the cursor remembers that horizon. A row committed late belongs to a
   * transaction at or above the horizon, so the next pull returns it: nothing is ever skipped.
   * (Rows may come twice across pulls; clients upsert by id.)
   */
  async pull(userId: string, since: string | undefined, limit = 100): Promise<SyncPull> {
    const from = decodeCursor(since);
    return this.dataSource.transaction('REPEATABLE READ', async (manager) => {
      const [{ horizon }] = await manager.query<{ horizon: string }[]>(
        `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon`,
      );
      const to = BigInt(horizon);
      const walletId = await this.ledger.findWalletId(userId, manager);

      const fetch = async (lo: bigint, hi: bigint, max: number | null) => {
        const loans = await manager
          .getRepository(Loan)
          .createQueryBuilder('l')
          .addSelect('l.change_xid::text', 'change_xid')
          .where('(l.borrower_id = :userId OR l.lender_id = :userId)', { userId })
          .andWhere('l.change_xid >= :lo AND l.change_xid < :hi', { lo: lo.toString(), hi: hi.toString() })
          .orderBy('l.change_xid', 'ASC')
          .addOrderBy('l.id', 'ASC')
          .limit(max ?? undefined)
          .getRawAndEntities()
          .then(({ raw, entities }) =>
            entities.map((e, i) => ({ loan: e, xid: BigInt((raw[i] as { change_xid: string }).change_xid) })),
          );
        const transfers: {
          id: string;
          kind: string;
          amount: string;
          loan_id: string | null;
          debit_account_id: string;
          created_at: Date;
          change_xid: string;
        }[] = walletId
          ? await manager.query(
              `SELECT id, kind, amount, loan_id, debit_account_id, created_at, change_xid::text AS change_xid
                   FROM transfers
                  WHERE (debit_account_id = $1 OR credit_account_id = $1) AND change_xid >= $2 AND change_xid < $3
                  ORDER BY change_xid, seq ${max === null ? '' : 'LIMIT ' + String(max)}`,
              [walletId, lo.toString(), hi.toString()],
            )
          : [];
        return { loans, transfers: transfers.map((t) => ({ ...t, xid: BigInt(t.change_xid) })) };
      };

      let page = await fetch(from, to, limit + 1);
      // More than a page: stop before the first transaction that did not fit, so that one
      // transaction's rows are never split across the cursor.
      let cut = to;
      if (page.loans.length > limit) cut = page.loans[limit].xid < cut ? page.loans[limit].xid : cut;
      if (page.transfers.length > limit) cut = page.transfers[limit].xid < cut ? page.transfers[limit].xid : cut;
      if (cut === from && cut < to) {
        // A single transaction larger than a page: deliver it whole.
        cut = from + 1n;
        page = await fetch(from, cut, null);
      }
      const balance = walletId ? await this.ledger.balanceOf(walletId, manager) : 0;
      return {
        loans: page.loans.filter((l) => l.xid < cut).map((l) => toSyncLoan(l.loan, userId)),
        transfers: page.transfers
          .filter((t) => t.xid < cut)
          .map((t) => ({
            id: t.id,
            kind: t.kind,
            amount: t.debit_account_id === walletId ? -Number(t.amount) : Number(t.amount),
            loanId: t.loan_id,
            createdAt: t.created_at,
          })),
        wallet: { balance },
        // Never behind where the client already is: with nothing finished since, it stays put.
        cursor: encodeCursor(cut > from ? cut : from),
        hasMore: cut < to,
      };
    });
  }
}
