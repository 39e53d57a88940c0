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

  pendingForLender(lenderId: string, options: { limit?: number; offset?: number } = {}) {
    return this.listForUser(lenderId, { ...options, role: 'lender', status: ['PENDING'] });
  }

  async summary(userId: string): Promise<LoanSummary> {
    const [row] = await this.dataSource.query<
      {
        owed: string;
        owing: string;
        active_as_borrower: number;
        active_as_lender: number;
        pending_approvals: number;
      }[]
    >(
      `SELECT
         coalesce(sum(outstanding) FILTER (WHERE status = 'ACTIVE' AND lender_id = $1), 0)   AS owed,
         coalesce(sum(outstanding) FILTER (WHERE status = 'ACTIVE' AND borrower_id = $1), 0) AS owing,
         count(*) FILTER (WHERE status = 'ACTIVE' AND borrower_id = $1)::int AS active_as_borrower,
         count(*) FILTER (WHERE status = 'ACTIVE' AND lender_id = $1)::int   AS active_as_lender,
         count(*) FILTER (WHERE status = 'PENDING' AND lender_id = $1)::int  AS pending_approvals
       FROM loans WHERE borrower_id = $1 OR lender_id = $1`,
      [userId],
    );
    return {
      balance: await this.wallet.balance(userId),
      owed: Number(row.owed),
      owing: Number(row.owing),
      activeAsBorrower: row.active_as_borrower,
      activeAsLender: row.active_as_lender,
      pendingApprovals: row.pending_approvals,
    };
  }
}
