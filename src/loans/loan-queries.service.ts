import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Shillings } from '../common/money.js';
import { LedgerService } from '../wallet/ledger.service.js';
import type { Transfer } from '../wallet/transfer.entity.js';
import { WalletService } from '../wallet/wallet.service.js';
import { Loan } from './loan.entity.js';
import { loadForParty } from './loan-rows.js';
import type { LoanStatus } from './loan-state.js';

export interface LoanWithRepayments {
  loan: Loan;
  repayments: Transfer[];
}

export interface LoanSummary {
  balance: Shillings;
  /** What others owe this user on active loans they lent. */
  owed: Shillings;
  /** What this user owes on active loans they borrowed. */
  owing: Shillings;
  activeAsBorrower: number;
  activeAsLender: number;
  pendingApprovals: number;
}

export interface LoanListOptions {
  role?: 'borrower' | 'lender' | 'any';
  status?: LoanStatus[];
  limit?: number;
  offset?: number;
  /** false: no count (total is then the number of items returned), one query fewer. */
  count?: boolean;
}

/** What a user sees of loans: one loan with its repayments, their loans page by page, a summary. Moves nothing. */
@Injectable()
export class LoanQueriesService {
  constructor(
    private readonly ledger: LedgerService,
    private readonly wallet: WalletService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async getForParty(loanId: string, userId: string): Promise<LoanWithRepayments> {
    const loan = await loadForParty(this.dataSource.manager, loanId, userId, true);
    const repayments = (await this.ledger.transfersForLoan(loanId)).filter((t) => t.kind === 'loan_repayment');
    return { loan, repayments };
  }

  /** Loans where the user is the borrower, the lender, or either; newest first. */
  async listForUser(userId: string, options: LoanListOptions = {}): Promise<{ items: Loan[]; total: number }> {
    const qb = this.dataSource
      .getRepository(Loan)
      .createQueryBuilder('l')
      .leftJoinAndSelect('l.borrower', 'borrower')
      .leftJoinAndSelect('l.lender', 'lender');
    const role = options.role ?? 'any';
    if (role === 'borrower') qb.where('l.borrower_id = :userId', { userId });
    else if (role === 'lender') qb.where('l.lender_id = :userId', { userId });
    else qb.where('(l.borrower_id = :userId OR l.lender_id = :userId)', { userId });
    if (options.status?.length) qb.andWhere('l.status IN (:...status)', { status: options.status });
    // limit/offset rather than take/skip: both joins are many-to-one (a loan has one borrower and
    // one lender), so rows are loans and one query pages them (take/skip would add a DISTINCT one).
    qb.orderBy('l.created_at', 'DESC')
      .addOrderBy('l.id', 'DESC')
      .limit(Math.min(Math.max(options.limit ?? 20, 1), 100))
      .offset(Math.max(options.offset ?? 0, 0));
    if (options.count === false) {
      const items = await qb.getMany();
      return { items, total: items.length };
    }
    const [items, total] = await qb.getManyAndCount();
    return { items, total };
  }

  /**
   * The newest `limit` loans (1–100) of each of these users, as borrower or lender, with both
   * parties: listForUser's first page for each, in two queries whatever the number of users.
   */
  async latestForUsers(userIds: readonly string[], limit: number): Promise<Map<string, Loan[]>> {
    const unique = [...new Set(userIds)];
    const picked: { user_id: string; id: string }[] = await this.dataSource.query(
      `SELECT user_id, id FROM (
         SELECT u.id AS user_id, l.id, row_number() OVER (PARTITION BY u.id ORDER BY l.created_at DESC, l.id DESC) AS n
           FROM unnest($1::uuid[]) AS u(id)
           JOIN loans l ON l.borrower_id = u.id OR l.lender_id = u.id
       ) ranked WHERE n <= $2`,
      [unique, Math.min(Math.max(Math.trunc(limit), 1), 100)],
    );
    const loans = picked.length
      ? await this.dataSource
          .getRepository(Loan)
          .createQueryBuilder('l')
          .leftJoinAndSelect('l.borrower', 'borrower')
          .leftJoinAndSelect('l.lender', 'lender')
          .where('l.id IN (:...ids)', { ids: [...new Set(picked.map((p) => p.id))] })
          .orderBy('l.created_at', 'DESC')
          .addOrderBy('l.id', 'DESC')
          .getMany()
      : [];
    const byId = new Map(loans.map((l) => [l.id, l]));
    const mine = new Set(picked.map((p) => `${p.user_id}:${p.id}`));
    return new Map(unique.map((id) => [id, [...byId.values()].filter((l) => mine.has(`${id}:${l.id}`))]));
  }

  /** summary() for several users in two queries (their loans' sums, their wallets' balances), by user id. */
  async summaries(userIds: readonly string[]): Promise<Map<string, LoanSummary>> {
    const unique = [...new Set(userIds)];
    const [rows, balances] = await Promise.all([
      this.dataSource.query<(SummaryRow & { user_id: string })[]>(
        `SELECT u.id AS user_id,
           coalesce(sum(l.outstanding) FILTER (WHERE l.status = 'ACTIVE' AND l.lender_id = u.id), 0)   AS owed,
           coalesce(sum(l.outstanding) FILTER (WHERE l.status = 'ACTIVE' AND l.borrower_id = u.id), 0) AS owing,
           count(l.id) FILTER (WHERE l.status = 'ACTIVE' AND l.borrower_id = u.id)::int AS active_as_borrower,
           count(l.id) FILTER (WHERE l.status = 'ACTIVE' AND l.lender_id = u.id)::int   AS active_as_lender,
           count(l.id) FILTER (WHERE l.status = 'PENDING' AND l.lender_id = u.id)::int  AS pending_approvals
         FROM unnest($1::uuid[]) AS u(id)
         LEFT JOIN loans l ON l.borrower_id = u.id OR l.lender_id = u.id
         GROUP BY u.id`,
        [unique],
      ),
      this.wallet.balances(unique),
    ]);
    return new Map(rows.map((row) => [row.user_id, summaryOf(row, balances.get(row.user_id) ?? 0)]));
  }

  pendingForLender(lenderId: string, options: { limit?: number; offset?: number } = {}) {
    return this.listForUser(lenderId, { ...options, role: 'lender', status: ['PENDING'] });
  }

  async summary(userId: string): Promise<LoanSummary> {
    const [row] = await this.dataSource.query<SummaryRow[]>(
      `SELECT
         coalesce(sum(outstanding) FILTER (WHERE status = 'ACTIVE' AND lender_id = $1), 0)   AS owed,
         coalesce(sum(outstanding) FILTER (WHERE status = 'ACTIVE' AND borrower_id = $1), 0) AS owing,
         count(*) FILTER (WHERE status = 'ACTIVE' AND borrower_id = $1)::int AS active_as_borrower,
         count(*) FILTER (WHERE status = 'ACTIVE' AND lender_id = $1)::int   AS active_as_lender,
         count(*) FILTER (WHERE status = 'PENDING' AND lender_id = $1)::int  AS pending_approvals
       FROM loans WHERE borrower_id = $1 OR lender_id = $1`,
      [userId],
    );
    return summaryOf(row, await this.wallet.balance(userId));
  }
}

interface SummaryRow {
  owed: string;
  owing: string;
  active_as_borrower: number;
  active_as_lender: number;
  pending_approvals: number;
}

function summaryOf(row: SummaryRow, balance: Shillings): LoanSummary {
  return {
    balance,
    owed: Number(row.owed),
    owing: Number(row.owing),
    activeAsBorrower: row.active_as_borrower,
    activeAsLender: row.active_as_lender,
    pendingApprovals: row.pending_approvals,
  };
}
