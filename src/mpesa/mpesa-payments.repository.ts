// mpesa_payments: every read of a payment and every conditional update of its status, so that
// "who may move this row, from which status" is answered in one place for all the flows: by the
// events of payment-state.ts, whose table gives each update its "from" statuses and its status.
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, LessThan, type FindOptionsWhere, type QueryDeepPartialEntity } from 'typeorm';
import type { Tx } from '../database/transaction.service.js';
import { MpesaPayment, type WithdrawalOutcome } from './mpesa-payment.entity.js';
import { transition, type PaymentEvent, type PaymentKind } from './payment-state.js';
import { PAID_AFTER_RELEASE } from './mpesa.rules.js';

/** What a payment's final update may carry besides its outcome. */
export interface FinishExtra {
  receipt?: string | null;
  callback?: Record<string, unknown> | null;
  transId?: string | null;
  /** Flag the payment for an operator. */
  needsReview?: boolean;
  /** An operator decided it: needs_review cleared, who and why recorded (the review columns). */
  review?: { reviewedBy: string; note: string };
  /** An operator resolved the withdrawal this way (the resolution columns). */
  resolution?: WithdrawalOutcome;
}

@Injectable()
export class MpesaPaymentsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The table itself, for the writes that are not a status change (new rows, recorded bodies). */
  get table() {
    return this.dataSource.getRepository(MpesaPayment);
  }

  byId(id: string): Promise<MpesaPayment | null> {
    return this.table.findOneBy({ id });
  }

  byIdOrFail(id: string): Promise<MpesaPayment> {
    return this.table.findOneByOrFail({ id });
  }

  byCheckoutRequestId(checkoutRequestId: string): Promise<MpesaPayment | null> {
    return this.table.findOneBy({ checkoutRequestId });
  }

  byOriginatorConversationId(originatorConversationId: string): Promise<MpesaPayment | null> {
    return this.table.findOneBy({ originatorConversationId });
  }

  byTransIdOrFail(transId: string): Promise<MpesaPayment> {
    return this.table.findOneByOrFail({ transId });
  }

  /** The payment, its row locked for the rest of the transaction. */
  lock(tx: Tx, id: string): Promise<MpesaPayment> {
    return tx.manager.findOneOrFail(MpesaPayment, { where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  /** The payment, its row locked for the rest of the transaction; null when there is none. */
  lockIfAny(tx: Tx, id: string): Promise<MpesaPayment | null> {
    return tx.manager.findOne(MpesaPayment, { where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  /**
   * Payments reconciliation looks at: STK pushes pending, withdrawals requested or pending, paybill
   * payments recorded but not credited, none looked at since `before`, least recently first.
   */
  stale(before: Date, limit: number): Promise<MpesaPayment[]> {
    return this.table.find({
      where: [
        { kind: 'stk', status: 'pending', updatedAt: LessThan(before) },
        // Never acknowledged (network trouble): asking again with the same id is one payment. Past
        // MPESA_RECONCILE_MAX_AGE_MS: not sent again, Transaction Status asked, then the last resort.
        { kind: 'b2c', status: 'requested', updatedAt: LessThan(before) },
        // Acknowledged (or maybe received), no result: Transaction Status, or the last resort.
        { kind: 'b2c', status: 'pending', updatedAt: LessThan(before) },
        // Recorded, then the credit was interrupted.
        { kind: 'c2b', status: 'pending', updatedAt: LessThan(before) },
      ],
      order: { updatedAt: 'ASC', id: 'ASC' },
      take: limit,
    });
  }

  /** Counts a reconciliation attempt (which moves updated_at, so the payment waits its turn again). */
  async countAttempt(id: string): Promise<void> {
    await this.table.increment({ id }, 'reconcileAttempts', 1);
  }

  /** The newest payments matching `where`. */
  newest(where: FindOptionsWhere<MpesaPayment>, limit: number): Promise<MpesaPayment[]> {
    return this.table.find({ where, order: { createdAt: 'DESC' }, take: limit });
  }

  /** A user's own payments, newest first (what the wallet shows them). */
  forUser(userId: string, limit = 20): Promise<MpesaPayment[]> {
    return this.newest({ userId }, limit);
  }

  /** Clears a payment's review flag with who and why; false when it was not flagged. */
  async clearReview(id: string, review: { reviewedBy: string; note: string }): Promise<boolean> {
    const cleared = await this.table
      .createQueryBuilder()
      .update(MpesaPayment)
      .set({
        needsReview: false,
        reviewedAt: () => 'now()',
        reviewedBy: review.reviewedBy,
        reviewNote: review.note,
      })
      .where('id = :id AND needs_review', { id })
      .execute();
    return Boolean(cleared.affected);
  }

  /**
   * Moves a payment of this kind by `event` (payment-state.ts), with the other columns in `set`,
   * only from the statuses the event may start from; false when it is in none of them (another
   * delivery or run got there first).
   */
  async move(
    id: string,
    kind: PaymentKind,
    event: PaymentEvent,
    set: Omit<QueryDeepPartialEntity<MpesaPayment>, 'status'>,
    tx?: Tx,
  ): Promise<boolean> {
    const { from, to } = transition(kind, event);
    const moved = await (tx?.manager ?? this.dataSource.manager)
      .createQueryBuilder()
      .update(MpesaPayment)
      .set({ ...set, status: to })
      .where('id = :id AND kind = :kind AND status IN (:...from)', { id, kind, from })
      .execute();
    return (moved.affected ?? 0) > 0;
  }

  /**
   * M-PESA's receipt for a withdrawal recorded paid without one: finished as the ledger said while
   * the answer that settled it was still on its way (WithdrawalService.closeAsLedgerSays). Once;
   * never over a receipt already recorded, nor on an operator's resolution (which has its own).
   */
  async addMissingReceipt(tx: Tx, id: string, receipt: string): Promise<boolean> {
    const added = await tx.manager
      .createQueryBuilder()
      .update(MpesaPayment)
      .set({ receipt })
      .where(`id = :id AND kind = 'b2c' AND status = 'succeeded' AND receipt IS NULL AND resolved_at IS NULL`, { id })
      .execute();
    return (added.affected ?? 0) > 0;
  }

  /**
   * Records a payment's outcome, by `event` (payment-state.ts: paid, failed, released, an
   * operator's resolution), only from the statuses the event may start from; false when another
   * delivery got there first.
   */
  async finish(
    tx: Tx,
    id: string,
    kind: PaymentKind,
    event: PaymentEvent,
    resultCode: number | null,
    resultDesc: string,
    extra: FinishExtra = {},
  ): Promise<boolean> {
    const { from, to: status } = transition(kind, event);
    const updated = await tx.manager
      .createQueryBuilder()
      .update(MpesaPayment)
      .set({
        status,
        resultCode,
        // A payment already found paid after its release keeps saying so, whatever closes it.
        resultDesc: () => `CASE WHEN result_desc LIKE '${PAID_AFTER_RELEASE}%' THEN result_desc ELSE :finishDesc END`,
        completedAt: () => 'now()',
        ...(extra.receipt !== undefined ? { receipt: extra.receipt } : {}),
        ...(extra.transId !== undefined ? { transId: extra.transId } : {}),
        ...(extra.needsReview ? { needsReview: true } : {}),
        ...(extra.review
          ? {
              needsReview: false,
              reviewedAt: () => 'now()',
              reviewedBy: extra.review.reviewedBy,
              reviewNote: extra.review.note,
            }
          : {}),
        ...(extra.resolution && extra.review
          ? { resolvedAt: () => 'now()', resolvedBy: extra.review.reviewedBy, resolution: extra.resolution }
          : {}),
        // (TypeORM's deep-partial type does not take a plain JSON object; the driver stores it as jsonb.)
        ...(extra.callback ? { callback: extra.callback as never } : {}),
      })
      .where('id = :id AND kind = :kind AND status IN (:...from)', { id, kind, from })
      .setParameter('finishDesc', resultDesc)
      .execute();
    return (updated.affected ?? 0) > 0;
  }
}
