// What operators do with M-PESA payments: list them, mark a flagged one reviewed, and end a
// withdrawal held with its outcome unknown from the M-PESA statement.
import { Injectable, Logger } from '@nestjs/common';
import { isDomainError } from '../common/domain-error.js';
import { isUuid } from '../common/ids.js';
import { toMsisdn } from '../common/phone-number.js';
import { TransactionService } from '../database/transaction.service.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { SubscriberChanges } from '../users/subscriber-changes.js';
import { UsersService } from '../users/users.service.js';
import { WalletService } from '../wallet/wallet.service.js';
import { MpesaPayment, type WithdrawalOutcome } from './mpesa-payment.entity.js';
import { MpesaPaymentsRepository } from './mpesa-payments.repository.js';
import { MpesaErrors, OPERATOR_RESOLVED } from './mpesa.rules.js';
import { canTransition, isOpenStatus } from './payment-state.js';

/** A payment as operators see it: everything but the raw request, reply and callback bodies. */
export type PaymentRecord = Omit<MpesaPayment, 'request' | 'response' | 'callback'>;

export function withoutBodies({
  request: _request,
  response: _response,
  callback: _callback,
  ...rest
}: MpesaPayment): PaymentRecord {
  return rest;
}

/** An operator's verdict on a withdrawal held with its outcome unknown, from the M-PESA statement. */
export interface WithdrawalResolution {
  outcome: WithdrawalOutcome;
  /** The M-PESA receipt of the payment: required for paid, refused for not_paid. */
  receipt?: string;
  reviewedBy: string;
  note: string;
}

@Injectable()
export class PaymentReviewService {
  private readonly logger = new Logger(PaymentReviewService.name);

  constructor(
    private readonly payments: MpesaPaymentsRepository,
    private readonly wallet: WalletService,
    private readonly users: UsersService,
    private readonly notifications: NotificationsService,
    private readonly transactions: TransactionService,
    private readonly changes: SubscriberChanges,
  ) {}

  /** For operators: the newest payments, of one phone number or all, flagged or not; raw bodies left out. */
  async recent(filter: { phoneNumber?: string; needsReview?: boolean } = {}, limit = 50): Promise<PaymentRecord[]> {
    const msisdn = filter.phoneNumber ? toMsisdn(filter.phoneNumber) : undefined;
    const where = {
      ...(msisdn ? { phoneNumber: msisdn } : {}),
      ...(filter.needsReview === undefined ? {} : { needsReview: filter.needsReview }),
    };
    const rows = await this.payments.newest(where, limit);
    return rows.map(withoutBodies);
  }

  /**
   * An operator has checked a flagged payment (against the M-PESA statement, and corrected what
   * needed correcting): needs_review is cleared and who, when and what they found are recorded.
   * Moves no money. Once: a payment not flagged (any more) is MPESA.REVIEW_NOT_NEEDED.
   */
  async markReviewed(id: string, review: { note: string; reviewedBy: string }): Promise<PaymentRecord> {
    if (!isUuid(id)) throw MpesaErrors.paymentNotFound();
    // A withdrawal still open with its money held is ended by /resolve, never just marked reviewed:
    // reviewed, it would never be flagged again and its money would stay held, out of sight.
    const open = await this.payments.byId(id);
    if (open && open.kind === 'b2c' && isOpenStatus(open.status) && (await this.isStillHeld(id))) {
      throw MpesaErrors.withdrawalStillHeld(open);
    }
    const cleared = await this.payments.clearReview(id, {
      reviewedBy: review.reviewedBy.trim(),
      note: review.note.trim(),
    });
    const payment = await this.payments.byId(id);
    if (!payment) throw MpesaErrors.paymentNotFound();
    if (!cleared) throw MpesaErrors.reviewNotNeeded(payment);
    this.logger.log(
      { id, reviewedBy: payment.reviewedBy, status: payment.status },
      'flagged M-PESA payment reviewed by an operator',
    );
    return withoutBodies(payment);
  }

  /**
   * An operator ends a withdrawal still pending with its money held, once reconciliation flagged it
   * (needs_review: Daraja unreachable, or a decisive status answer it could not match), from the
   * M-PESA statement: paid settles the hold,
   * not_paid releases it, through the wallet's settle and release and their one outcome key, the
   * same as M-PESA's own answers. In one transaction with the payment's row locked: the ledger
   * move, the outcome (needs_review cleared, who, when and the note in the review columns, the
   * resolution in its own columns) and the user's SMS commit together. Two operators at once, or an operator and M-PESA's answer at once,
   * end with one outcome: the loser is MPESA.NOT_RESOLVABLE (an operator) or a duplicate (M-PESA's
   * answer, checked against the operator's word afterwards: see checkAgainstOperator).
   */
  async resolveWithdrawal(id: string, resolution: WithdrawalResolution): Promise<PaymentRecord> {
    if (!isUuid(id)) throw MpesaErrors.paymentNotFound();
    const paid = resolution.outcome === 'paid';
    const receipt = resolution.receipt?.trim().toUpperCase() || null;
    if (paid && !receipt)
      throw MpesaErrors.badResolution(
        'receipt (the M-PESA receipt from the statement) is required when the outcome is paid',
      );
    if (!paid && receipt) throw MpesaErrors.badResolution('receipt is only for a withdrawal M-PESA paid');
    const review = { reviewedBy: resolution.reviewedBy.trim(), note: resolution.note.trim() };
    const event = paid ? 'resolved_as_paid' : 'resolved_as_not_paid';
    const resultDesc = paid
      ? `${OPERATOR_RESOLVED} as paid (receipt ${receipt}): hold settled`
      : `${OPERATOR_RESOLVED} as not paid: hold released`;
    const payment = await this.transactions.run(async (tx) => {
      const row = await this.payments.lockIfAny(tx, id);
      if (!row) throw MpesaErrors.paymentNotFound();
      if (row.kind !== 'b2c') throw MpesaErrors.notResolvable(row, 'not a withdrawal');
      if (!canTransition('b2c', row.status, event))
        throw MpesaErrors.notResolvable(row, `the withdrawal is ${row.status}, not pending`);
      // Only once reconciliation has flagged it: before, M-PESA's answer may still come and the
      // statement may not show the payment yet, and an operator's "not paid" could pay twice.
      if (!row.needsReview) {
        throw MpesaErrors.notResolvable(
          row,
          'it is not flagged for review (needsReview): M-PESA may still answer and the statement may not show the payment yet; reconciliation flags a withdrawal whose outcome it cannot learn',
        );
      }
      if (!(await this.wallet.isWithdrawalHeld(id, tx.manager)))
        throw MpesaErrors.notResolvable(row, 'no money is held for it');
      if (await this.wallet.withdrawalOutcome(id, tx.manager)) {
        throw MpesaErrors.notResolvable(
          row,
          "M-PESA's answer has already settled or released it (its payment is being finished)",
        );
      }
      let moved;
      try {
        moved = paid ? await this.wallet.settleWithdrawal(id, tx) : await this.wallet.releaseWithdrawal(id, tx);
      } catch (err) {
        if (isDomainError(err, 'WITHDRAWAL.ALREADY_CLOSED'))
          throw MpesaErrors.notResolvable(row, "M-PESA's answer has just settled or released it");
        throw err;
      }
      // M-PESA's answer committed the same outcome while this waited: it is M-PESA's, not the operator's.
      if (moved.replayed) throw MpesaErrors.notResolvable(row, "M-PESA's answer has just settled or released it");
      const done = await this.payments.finish(tx, id, 'b2c', event, null, resultDesc, {
        ...(paid ? { receipt } : {}),
        review,
        resolution: resolution.outcome,
      });
      if (!done) throw MpesaErrors.notResolvable(row, 'it was closed meanwhile');
      const user = await this.users.getById(row.userId!, tx.manager);
      const to = { phoneNumber: user.phoneNumber, language: user.language };
      if (paid)
        await this.notifications.notify(tx, {
          ...to,
          template: 'mpesa.withdrawal_sent',
          params: { amount: row.amount, receipt: receipt! },
        });
      else
        await this.notifications.notify(tx, {
          ...to,
          template: 'mpesa.withdrawal_failed',
          params: { amount: row.amount },
        });
      return tx.manager.findOneByOrFail(MpesaPayment, { id });
    });
    await this.changes.changed([payment.userId!]);
    this.logger.warn(
      { id, outcome: resolution.outcome, receipt, reviewedBy: review.reviewedBy, amount: payment.amount },
      'withdrawal resolved by an operator',
    );
    return withoutBodies(payment);
  }

  /** A withdrawal's money is held: its hold is in the ledger, and no settle or release yet. */
  private async isStillHeld(id: string): Promise<boolean> {
    return (await this.wallet.isWithdrawalHeld(id)) && (await this.wallet.withdrawalOutcome(id)) === null;
  }
}
