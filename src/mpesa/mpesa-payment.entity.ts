import { Check, Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { bigintToNumber } from '../database/bigint.transformer.js';
import type { PaymentKind, PaymentStatus } from './payment-state.js';

/**
 * Why a callback was flagged: its amount, phone (a B2C result: its receiver) or shortcode differ
 * from the request; it claims another receipt, or another outcome, than an earlier callback (or
 * than the outcome already recorded); or it claims a payment Daraja's query says was not made.
 */
export const MISMATCH_KINDS = ['amount', 'phone', 'shortcode', 'receipt', 'outcome', 'not_confirmed'] as const;
export type MismatchKind = (typeof MISMATCH_KINDS)[number];

/** What one flagged callback claimed, and why it was flagged (it was never applied as such). */
export interface CallbackMismatch {
  /** When it was first recorded (ISO 8601). */
  at: string;
  kinds: MismatchKind[];
  resultCode: number | null;
  receipt: string | null;
  /** Whole shillings, as claimed. */
  amount: number | null;
  /** As the callback gave it (Daraja may mask or redact it). */
  phoneNumber: string | null;
  /** C2B: the BusinessShortCode claimed. */
  shortCode?: string | null;
}

/** An operator's resolution of a withdrawal held with its outcome unknown. */
export type WithdrawalOutcome = 'paid' | 'not_paid';

/**
 * Every M-PESA request Deni makes and every payment M-PESA tells it about, with Daraja's ids (each
 * unique, which is what makes a repeated callback a no-op) and the raw request, reply and callback.
 */
@Entity('mpesa_payments')
@Check('CHK_mpesa_payments_kind', `"kind" IN ('stk', 'c2b', 'b2c')`)
@Check('CHK_mpesa_payments_status', `"status" IN ('requested', 'pending', 'succeeded', 'failed', 'unmatched')`)
@Check('CHK_mpesa_payments_amount', `"amount" > 0`)
@Check('CHK_mpesa_payments_resolution', `"resolution" IN ('paid', 'not_paid')`)
@Index('IDX_mpesa_payments_checkout', ['checkoutRequestId'], {
  unique: true,
  where: '"checkout_request_id" IS NOT NULL',
})
@Index('IDX_mpesa_payments_originator', ['originatorConversationId'], {
  unique: true,
  where: '"originator_conversation_id" IS NOT NULL',
})
@Index('IDX_mpesa_payments_trans', ['transId'], { unique: true, where: '"trans_id" IS NOT NULL' })
@Index('IDX_mpesa_payments_status_created', ['status', 'createdAt'])
@Index('IDX_mpesa_payments_user_created', ['userId', 'createdAt'])
export class MpesaPayment {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ type: 'varchar', length: 8 })
  kind!: PaymentKind;

  /** Set and changed only as payment-state.ts allows (PAYMENT_STATUSES: what each means). */
  @Column({ type: 'varchar', length: 16 })
  status!: PaymentStatus;

  @Column({ name: 'user_id', type: 'uuid', nullable: true })
  userId!: string | null;

  @Column({ name: 'phone_number', type: 'varchar', length: 32 })
  phoneNumber!: string;

  @Column({ type: 'bigint', transformer: bigintToNumber })
  amount!: number;

  @Column({ name: 'merchant_request_id', type: 'varchar', length: 64, nullable: true })
  merchantRequestId!: string | null;

  @Column({ name: 'checkout_request_id', type: 'varchar', length: 64, nullable: true })
  checkoutRequestId!: string | null;

  @Column({ name: 'originator_conversation_id', type: 'varchar', length: 64, nullable: true })
  originatorConversationId!: string | null;

  @Column({ name: 'conversation_id', type: 'varchar', length: 64, nullable: true })
  conversationId!: string | null;

  @Column({ name: 'trans_id', type: 'varchar', length: 32, nullable: true })
  transId!: string | null;

  /**
   * The M-PESA receipt number, once paid. STK: the receipt of the first callback whose amount and
   * phone agree with the request, once Daraja's query confirmed the payment; never one from a
   * callback that disagreed (its claims are in callback_mismatches), so null until one agrees.
   */
  @Column({ type: 'varchar', length: 32, nullable: true })
  receipt!: string | null;

  @Column({ name: 'result_code', type: 'int', nullable: true })
  resultCode!: number | null;

  @Column({ name: 'result_desc', type: 'text', nullable: true })
  resultDesc!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  request!: Record<string, unknown> | null;

  @Column({ type: 'jsonb', nullable: true })
  response!: Record<string, unknown> | null;

  @Column({ type: 'jsonb', nullable: true })
  callback!: Record<string, unknown> | null;

  /**
   * Callbacks that disagreed with this payment's request, with Daraja's answer, or with an earlier
   * callback: what each claimed and why it was flagged (needs_review is set with each). The first
   * callback's raw body stays in `callback` whatever it claimed.
   */
  @Column({ name: 'callback_mismatches', type: 'jsonb', default: () => "'[]'" })
  callbackMismatches!: CallbackMismatch[];

  /** Reconciliation queries so far (a lost callback). */
  @Column({ name: 'reconcile_attempts', type: 'int', default: 0 })
  reconcileAttempts!: number;

  /**
   * When Daraja acknowledged the B2C request (gave its ConversationID, or refused a re-send as a
   * duplicate of one it has): the last resort's MPESA_RECONCILE_MAX_AGE_MS counts from here, and
   * from the request's created_at only for a request never acknowledged.
   */
  @Column({ name: 'acknowledged_at', type: 'timestamptz', nullable: true })
  acknowledgedAt!: Date | null;

  /** Transaction Status queries about this withdrawal that Daraja accepted (failed ones do not count). */
  @Column({ name: 'status_queries', type: 'int', default: 0 })
  statusQueries!: number;

  /** When the last of them was accepted: the last resort waits MPESA_RECONCILE_AFTER_MS after it, for its answer. */
  @Column({ name: 'status_queried_at', type: 'timestamptz', nullable: true })
  statusQueriedAt!: Date | null;

  /**
   * The ConversationIDs Daraja gave in its acknowledgements of the Transaction Status questions
   * about this withdrawal (the latest STATUS_QUERY_IDS_KEPT): an answer whose Result.ConversationID
   * is one of them answers our question. What matches a withdrawal Daraja never acknowledged (no
   * ConversationID of its own) when the answer does not echo our OriginatorConversationID.
   */
  @Column({ name: 'status_query_conversation_ids', type: 'text', array: true, nullable: true })
  statusQueryConversationIds!: string[] | null;

  /**
   * What a decisive Transaction Status answer (Completed, Failed, …) said that could not be matched
   * to this withdrawal. Once set, the last resort never gives its money back: an operator resolves it.
   */
  @Column({ name: 'unmatched_status_answer', type: 'text', nullable: true })
  unmatchedStatusAnswer!: string | null;

  /** When an operator resolved this withdrawal (POST /api/admin/mpesa/payments/:id/resolve). */
  @Column({ name: 'resolved_at', type: 'timestamptz', nullable: true })
  resolvedAt!: Date | null;

  /** Who did, as they gave it. */
  @Column({ name: 'resolved_by', type: 'varchar', length: 64, nullable: true })
  resolvedBy!: string | null;

  /** What they found on the M-PESA statement: paid (hold settled) or not_paid (hold released). */
  @Column({ type: 'varchar', length: 16, nullable: true })
  resolution!: WithdrawalOutcome | null;

  /**
   * An operator must look (result_desc says why): money kept for nobody (unmatched), a withdrawal
   * given back with its outcome unknown, or one paid after its money was given back.
   */
  @Column({ name: 'needs_review', type: 'boolean', default: false })
  needsReview!: boolean;

  /** When an operator last cleared needs_review (POST /api/admin/mpesa/payments/:id/reviewed). */
  @Column({ name: 'reviewed_at', type: 'timestamptz', nullable: true })
  reviewedAt!: Date | null;

  /** Who did, as they gave it: the admin key is shared and names nobody. */
  @Column({ name: 'reviewed_by', type: 'varchar', length: 64, nullable: true })
  reviewedBy!: string | null;

  /** What they checked and did (e.g. "M-PESA statement: not paid"). */
  @Column({ name: 'review_note', type: 'text', nullable: true })
  reviewNote!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  @Column({ name: 'completed_at', type: 'timestamptz', nullable: true })
  completedAt!: Date | null;
}
