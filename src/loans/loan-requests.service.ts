import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { isShillings, type Shillings } from '../common/money.js';
import { formatLocal } from '../common/phone-number.js';
import { uniqueViolation } from '../common/postgres-errors.js';
import type { AppConfig } from '../config/app-config.js';
import { TransactionService } from '../database/transaction.service.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { OnboardingService } from '../onboarding/onboarding.service.js';
import { JobsService } from '../queues/jobs.service.js';
import { JobName } from '../queues/queue-names.js';
import { UsersService } from '../users/users.service.js';
import { Loan } from './loan.entity.js';
import { LoanParties } from './loan-parties.js';
import { LoanErrors } from './loans.errors.js';

export const MIN_REPAYMENT_PER_DEPOSIT = 10;

export interface LoanRequestInput {
  borrowerId: string;
  lenderPhoneNumber: string;
  amount: Shillings;
  repaymentPerDeposit: Shillings;
  /** The client's idempotency key: the same key never creates two requests. */
  requestKey?: string;
}

/**
 * A borrower asks a lender (by phone number, registering them if new) for a loan: the request is
 * PENDING until the lender decides or it expires (LoanDecisionsService), and the lender is told.
 */
@Injectable()
export class LoanRequestsService {
  private readonly settings: AppConfig['loans'];

  constructor(
    private readonly transactions: TransactionService,
    private readonly users: UsersService,
    private readonly onboarding: OnboardingService,
    private readonly notifications: NotificationsService,
    private readonly jobs: JobsService,
    private readonly parties: LoanParties,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('loans', { infer: true });
  }

  async requestLoan(input: LoanRequestInput): Promise<Loan> {
    const { minAmount, maxAmount, maxPending, requestTtlMs } = this.settings;
    if (!isShillings(input.amount) || input.amount < minAmount || input.amount > maxAmount) {
      throw LoanErrors.amountOutOfRange(minAmount, maxAmount);
    }
    const amount = input.amount;
    const cap = Math.min(amount, maxAmount);
    if (
      !isShillings(input.repaymentPerDeposit) ||
      input.repaymentPerDeposit < MIN_REPAYMENT_PER_DEPOSIT ||
      input.repaymentPerDeposit > cap
    ) {
      throw LoanErrors.repaymentOutOfRange(MIN_REPAYMENT_PER_DEPOSIT, cap);
    }
    const repayment = input.repaymentPerDeposit;
    const borrower = await this.users.getById(input.borrowerId);
    const lender = await this.onboarding.identify(input.lenderPhoneNumber);
    if (lender.id === borrower.id) throw LoanErrors.selfLoan();

    const loan = await this.transactions
      .run(async (tx) => {
        // One request at a time per borrower, so the pending limit holds under concurrency.
        await tx.manager.query(`SELECT pg_advisory_xact_lock(hashtextextended('loan-request:' || $1, 0))`, [
          borrower.id,
        ]);
        const repo = tx.manager.getRepository(Loan);
        // The borrower's pending count and an earlier request under the same key, in one query.
        const [found] = await tx.manager.query<{ pending: number; earlier: string | null }[]>(
          `SELECT (SELECT count(*)::int FROM loans WHERE borrower_id = $1 AND status = 'PENDING') AS pending,
                (SELECT id FROM loans WHERE request_key = $2) AS earlier`,
          [borrower.id, input.requestKey ?? null],
        );
        if (found.earlier) {
          const earlier = await repo.findOneByOrFail({ id: found.earlier });
          const same =
            earlier.borrowerId === borrower.id &&
            earlier.lenderId === lender.id &&
            earlier.principal === amount &&
            earlier.repaymentPerDeposit === repayment;
          if (!same) throw LoanErrors.requestKeyConflict();
          return { loan: earlier, created: false };
        }
        if (found.pending >= maxPending) throw LoanErrors.tooManyPending(maxPending);
        // The same request still pending is refused by UQ_loans_pending_duplicate (mapped below).
        const saved = repo.create({
          borrowerId: borrower.id,
          lenderId: lender.id,
          principal: amount,
          repaymentPerDeposit: repayment,
          outstanding: amount,
          status: 'PENDING',
          requestKey: input.requestKey ?? null,
          expiresAt: new Date(Date.now() + requestTtlMs),
        });
        // insert, not save: a new row needs no persistence graph; ids and defaults come back with it.
        await repo.insert(saved);
        await this.notifications.notify(tx, {
          phoneNumber: lender.phoneNumber,
          language: lender.language,
          template: 'loan.requested',
          params: { borrower: formatLocal(borrower.phoneNumber), amount, repayment },
        });
        tx.afterCommit(() =>
          this.jobs.add(
            JobName.ExpireLoan,
            { loanId: saved.id },
            {
              jobId: `expire-${saved.id}`,
              delay: requestTtlMs,
              attempts: 5,
              backoff: { type: 'exponential', delay: 5_000 },
            },
          ),
        );
        return { loan: saved, created: true };
      })
      .catch((e) => {
        const constraint = uniqueViolation(e);
        if (constraint === 'UQ_loans_pending_duplicate') throw LoanErrors.duplicateRequest();
        if (constraint === 'UQ_loans_request_key' && input.requestKey) {
          // A concurrent call with the same key won: answer as the replay would.
          return this.requestLoan(input).then((l) => ({ loan: l, created: false }));
        }
        throw e;
      });
    // A replay too: its first delivery may have been cut short between the commit and this.
    await this.parties.changed(loan.loan);
    return loan.loan;
  }
}
