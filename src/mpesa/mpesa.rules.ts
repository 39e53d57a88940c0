// What M-PESA allows and answers, apart from any flow: amount limits, Daraja's result codes,
// the fixed descriptions written on payments, the paybill's answers and the errors. USSD reads the
// limits from here, never from a service.
import { DomainError } from '../common/domain-error.js';
import { uuidFrom } from '../common/ids.js';
import { formatKsh, type Shillings } from '../common/money.js';
import type { MpesaPayment } from './mpesa-payment.entity.js';

/** Daraja's STK push and B2C limits, in whole shillings. */
export const TOP_UP_LIMITS = { min: 1, max: 250_000 } as const;
export const WITHDRAWAL_LIMITS = { min: 10, max: 250_000 } as const;

/**
 * The id of the withdrawal a caller's idempotency key makes (a USSD step's key): the same online,
 * retried, or applied later from the offline queue, so it is the same withdrawal every time.
 */
export function withdrawalIdFor(key: string): string {
  return uuidFrom(`withdrawal:${key}`);
}

/**
 * Whether `since` lies MPESA_RECONCILE_MAX_AGE_MS (`maxAgeMs`) or more in the past: a withdrawal is
 * no longer re-sent, the last resort may act, an unconfirmed paybill payment goes to an operator.
 */
export function pastMaxAge(since: Date, maxAgeMs: number, now = Date.now()): boolean {
  return since.getTime() <= now - maxAgeMs;
}

export const STK_SUCCESS = 0;
/** A B2C result's ResultCode when M-PESA paid. */
export const B2C_RESULT_PAID = 0;
/**
 * STK results known to be final failures (no money moved): insufficient balance, transaction
 * expired, cancelled by the user, no answer from the phone, wrong PIN. Reconciliation settles a
 * push as failed only on one of these; any other code may still become a payment.
 */
export const FINAL_STK_FAILURES = new Set([1, 1019, 1032, 1037, 2001]);

/**
 * Transaction Status values (ResultParameters.TransactionStatus) that end a withdrawal. Completed:
 * paid. The others: M-PESA did not pay, the money goes back. Anything else (Pending, Authorized,
 * a value not seen before) is no verdict: the hold stays and the next run asks again.
 */
export const B2C_STATUS_PAID = 'completed';
export const B2C_STATUS_NOT_PAID = new Set(['failed', 'cancelled', 'declined', 'expired']);

/**
 * A withdrawal Transaction Status could not be asked about at all (Daraja unreachable, or refusing
 * the query) this many MPESA_RECONCILE_MAX_AGE_MS after its request or acknowledgement is flagged
 * for an operator, its money still held: giving it back without any answer could pay twice.
 */
export const UNASKED_FLAG_AFTER_MAX_AGES = 2;

/** How a payment M-PESA paid after its money was given back is described; never overwritten. */
export const PAID_AFTER_RELEASE = 'PAID AFTER RELEASE';

/**
 * How a withdrawal an operator ended (resolveWithdrawal) is described, for people. That it was an
 * operator is known from the resolution columns (resolved_at, resolved_by, resolution), never from
 * this text, which a callback's description could imitate.
 */
export const OPERATOR_RESOLVED = 'RESOLVED BY OPERATOR';

/** How many Transaction Status questions' ConversationIDs a withdrawal keeps (the latest). */
export const STATUS_QUERY_IDS_KEPT = 20;
/** Added (once) to an operator's resolution that M-PESA later contradicts. */
export const CONTRADICTED = 'CONTRADICTED BY M-PESA';

/** Where Daraja posts: fixed paths, and a withdrawal's own for its Transaction Status answers. */
export type CallbackPath =
  | 'stk'
  | 'c2b/validation'
  | 'c2b/confirmation'
  | 'b2c/result'
  | 'b2c/timeout'
  | `c2b/status/${string}/result`
  | `c2b/status/${string}/timeout`
  | `b2c/status/${string}/result`
  | `b2c/status/${string}/timeout`;

export type C2bAnswer = { ResultCode: string; ResultDesc: string };
export const C2B_ACCEPT: C2bAnswer = { ResultCode: '0', ResultDesc: 'Accepted' };
/** Safaricom's C2B rejection codes. */
export const C2B_INVALID_ACCOUNT: C2bAnswer = { ResultCode: 'C2B00012', ResultDesc: 'Rejected' };
export const C2B_INVALID_AMOUNT: C2bAnswer = { ResultCode: 'C2B00013', ResultDesc: 'Rejected' };

export const MpesaErrors = {
  amount: (min: Shillings, max: Shillings) =>
    new DomainError(
      'MPESA.AMOUNT_OUT_OF_RANGE',
      'invalid',
      `The amount must be between ${formatKsh(min)} and ${formatKsh(max)}`,
      {
        field: 'amount',
        min,
        max,
      },
    ),
  badCallback: (why: string) => new DomainError('MPESA.BAD_CALLBACK', 'invalid', `Unreadable callback: ${why}`),
  paymentNotFound: () => new DomainError('MPESA.PAYMENT_NOT_FOUND', 'not_found', 'No such M-PESA payment'),
  notResolvable: (payment: MpesaPayment, why: string) =>
    new DomainError('MPESA.NOT_RESOLVABLE', 'conflict', `This payment cannot be resolved by an operator: ${why}`, {
      id: payment.id,
      kind: payment.kind,
      status: payment.status,
    }),
  topUpIdConflict: () =>
    new DomainError(
      'MPESA.TOP_UP_ID_CONFLICT',
      'conflict',
      'This Idempotency-Key was used for another top-up (another amount or phone): use a new key for a new top-up',
    ),
  badResolution: (why: string) => new DomainError('MPESA.BAD_RESOLUTION', 'invalid', why, { field: 'receipt' }),
  withdrawalStillHeld: (payment: MpesaPayment) =>
    new DomainError(
      'MPESA.WITHDRAWAL_STILL_HELD',
      'conflict',
      'This withdrawal is still pending with its money held: marking it reviewed would hide it while the money stays held. End it from the M-PESA statement with POST /api/admin/mpesa/payments/:id/resolve instead',
      { id: payment.id, kind: payment.kind, status: payment.status },
    ),
  reviewNotNeeded: (payment: MpesaPayment) =>
    new DomainError(
      'MPESA.REVIEW_NOT_NEEDED',
      'conflict',
      'This payment is not flagged for review (never was, or already reviewed)',
      {
        id: payment.id,
        reviewedAt: payment.reviewedAt,
        reviewedBy: payment.reviewedBy,
      },
    ),
};
