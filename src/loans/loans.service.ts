import { Injectable } from '@nestjs/common';
import type { Shillings } from '../common/money.js';
import type { Loan } from './loan.entity.js';
import { LoanDecisionsService } from './loan-decisions.service.js';
import {
  LoanQueriesService,
  type LoanListOptions,
  type LoanSummary,
  type LoanWithRepayments,
} from './loan-queries.service.js';
import { LoanRequestsService, type LoanRequestInput } from './loan-requests.service.js';
import { RepaymentsService, type DepositInput, type DepositResult } from './repayments.service.js';

/**
 * Loans as the rest of Deni uses them (USSD, sync, M-PESA, the controllers): the lifecycle and the
 * one entry point for incoming money, each call handed to the service of its part of the
 * lifecycle:
 *
 * - LoanRequestsService: a borrower asks a lender;
 * - LoanDecisionsService: the request is approved (the disbursement), declined, cancelled or expires;
 * - RepaymentsService: deposits, allocated to the depositor's active loans, and repayments at will;
 * - LoanQueriesService: what a user sees of their loans.
 *
 * Every money movement goes through the ledger; every notification is written in the same
 * transaction as the change. Every write, once committed, tells SubscriberChanges whose data it
 * changed (both parties of a loan) and waits for it: what a channel keeps of them (USSD's offline
 * snapshots) is up to date before the write returns.
 *
 * Locking discipline (no deadlocks): an operation locks all the accounts it will touch first,
 * wallets by id and then system rows by id (LedgerService.lockAccounts), and only then the loan rows.
 */
@Injectable()
export class LoansService {
  constructor(
    private readonly requests: LoanRequestsService,
    private readonly decisions: LoanDecisionsService,
    private readonly repayments: RepaymentsService,
    private readonly queries: LoanQueriesService,
  ) {}

  requestLoan(input: LoanRequestInput): Promise<Loan> {
    return this.requests.requestLoan(input);
  }

  approve(loanId: string, lenderId: string): Promise<Loan> {
    return this.decisions.approve(loanId, lenderId);
  }

  decline(loanId: string, lenderId: string): Promise<Loan> {
    return this.decisions.decline(loanId, lenderId);
  }

  cancel(loanId: string, borrowerId: string): Promise<Loan> {
    return this.decisions.cancel(loanId, borrowerId);
  }

  /** Expires a pending request whose time is up; a no-op for anything else. */
  expire(loanId: string): Promise<boolean> {
    return this.decisions.expire(loanId);
  }

  /** The safety net behind the per-loan expiry jobs: expires every request past its time. */
  expireDue(limit?: number): Promise<number> {
    return this.decisions.expireDue(limit);
  }

  /**
   * The one entry point for money arriving in a wallet (M-PESA, operators): credits the wallet and
   * repays the user's active loans from it. The same reference never credits twice.
   */
  receiveDeposit(input: DepositInput): Promise<DepositResult> {
    return this.repayments.receiveDeposit(input);
  }

  /** A repayment the borrower chooses to make now, any amount up to min(outstanding, balance). */
  repay(loanId: string, borrowerId: string, amount: Shillings, idempotencyKey: string): Promise<Loan> {
    return this.repayments.repay(loanId, borrowerId, amount, idempotencyKey);
  }

  getForParty(loanId: string, userId: string): Promise<LoanWithRepayments> {
    return this.queries.getForParty(loanId, userId);
  }

  /** Loans where the user is the borrower, the lender, or either; newest first. */
  listForUser(userId: string, options?: LoanListOptions): Promise<{ items: Loan[]; total: number }> {
    return this.queries.listForUser(userId, options);
  }

  pendingForLender(
    lenderId: string,
    options?: { limit?: number; offset?: number },
  ): Promise<{ items: Loan[]; total: number }> {
    return this.queries.pendingForLender(lenderId, options);
  }

  summary(userId: string): Promise<LoanSummary> {
    return this.queries.summary(userId);
  }

  /** summary() for several users at once, by user id. */
  summaries(userIds: readonly string[]): Promise<Map<string, LoanSummary>> {
    return this.queries.summaries(userIds);
  }

  /** The newest `limit` loans of each of these users (as listForUser's first page), by user id. */
  latestForUsers(userIds: readonly string[], limit: number): Promise<Map<string, Loan[]>> {
    return this.queries.latestForUsers(userIds, limit);
  }
}
