// The lifecycle of an M-PESA payment (a row of mpesa_payments): the status it is recorded with and
// every status change it may take, per kind. Every insert and conditional update of a payment's
// status takes its status, and its "from" statuses, from here; nothing else spells a transition.
import { DomainError } from '../common/domain-error.js';

export const PAYMENT_KINDS = ['stk', 'c2b', 'b2c'] as const;
export type PaymentKind = (typeof PAYMENT_KINDS)[number];

/**
 * requested: recorded, the call to Daraja not answered yet (re-sent by reconciliation); pending:
 * Daraja accepted it (or may have: no answer came, or a B2C never acknowledged whose re-sending
 * stopped at MPESA_RECONCILE_MAX_AGE_MS), the result is awaited; succeeded / failed: final.
 * unmatched: money M-PESA took that Deni cannot place (kept for an operator).
 */
export const PAYMENT_STATUSES = ['requested', 'pending', 'succeeded', 'failed', 'unmatched'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/**
 * How a payment comes to be recorded. request: Deni records its own request before asking Daraja
 * (an STK push, a B2C withdrawal). confirmation: M-PESA confirms a paybill payment to a user's
 * account. unrecognised: M-PESA took money Deni cannot place (a paybill payment for no user, a paid
 * STK callback for no request we know).
 */
export const PAYMENT_ORIGINS = ['request', 'confirmation', 'unrecognised'] as const;
export type PaymentOrigin = (typeof PAYMENT_ORIGINS)[number];

/**
 * What moves a payment. accepted / refused: Daraja's answer to an STK push. acknowledged: Daraja
 * took a B2C request (its ConversationID); acknowledged_as_duplicate: it refused a re-send as a
 * duplicate of one it has; outcome_unknown: the request may have reached it, no answer came;
 * resend_stopped: never acknowledged by MPESA_RECONCILE_MAX_AGE_MS, no more re-sends;
 * result_disagrees: a B2C result disagreed with its request, the money stays held for an operator.
 * paid: the payment is confirmed and the money moved (a top-up or paybill payment credited, a
 * withdrawal's hold settled); failed: a top-up M-PESA did not take; released: a withdrawal's hold
 * given back (M-PESA did not pay, or the last resort). resolved_as_paid / resolved_as_not_paid: an
 * operator ended a withdrawal from the M-PESA statement.
 */
export const PAYMENT_EVENTS = [
  'accepted',
  'refused',
  'acknowledged',
  'acknowledged_as_duplicate',
  'outcome_unknown',
  'resend_stopped',
  'result_disagrees',
  'paid',
  'failed',
  'released',
  'resolved_as_paid',
  'resolved_as_not_paid',
] as const;
export type PaymentEvent = (typeof PAYMENT_EVENTS)[number];

type Moves = Readonly<Record<PaymentStatus, Readonly<Partial<Record<PaymentEvent, PaymentStatus>>>>>;

const ORIGINS: Readonly<Record<PaymentKind, Readonly<Partial<Record<PaymentOrigin, PaymentStatus>>>>> = {
  stk: { request: 'requested', unrecognised: 'unmatched' },
  c2b: { confirmation: 'pending', unrecognised: 'unmatched' },
  b2c: { request: 'requested' },
};

/**
 * Per kind, from each status, the events it may take and where each leads. An event leads to one
 * status whatever it starts from, so that a conditional update (`status IN fromStatuses`) says
 * everything. Final outcomes have no way out, with one exception the money rules make: a top-up
 * recorded failed that Daraja's STK query then says was paid becomes succeeded (money taken is
 * money owed). A withdrawal's later answers, and an answer after an operator's resolution, are
 * checked and flagged, never applied; money for nobody (unmatched) waits for an operator as it is.
 */
const TRANSITIONS: Readonly<Record<PaymentKind, Moves>> = {
  stk: {
    requested: { accepted: 'pending', refused: 'failed' },
    pending: { paid: 'succeeded', failed: 'failed' },
    succeeded: {},
    failed: { paid: 'succeeded' },
    unmatched: {},
  },
  c2b: {
    requested: {},
    pending: { paid: 'succeeded' },
    succeeded: {},
    failed: {},
    unmatched: {},
  },
  b2c: {
    requested: {
      acknowledged: 'pending',
      acknowledged_as_duplicate: 'pending',
      outcome_unknown: 'pending',
      resend_stopped: 'pending',
      result_disagrees: 'pending',
      paid: 'succeeded',
      released: 'failed',
    },
    // A late acknowledgement still records Daraja's ConversationID. Only a withdrawal flagged for an
    // operator is resolved by one, and only while it is pending (reconciliation has asked about it).
    pending: {
      acknowledged: 'pending',
      result_disagrees: 'pending',
      paid: 'succeeded',
      released: 'failed',
      resolved_as_paid: 'succeeded',
      resolved_as_not_paid: 'failed',
    },
    succeeded: {},
    failed: {},
    unmatched: {},
  },
};

function notAllowed(kind: PaymentKind, from: PaymentStatus | null, what: string): DomainError {
  return new DomainError(
    'MPESA.TRANSITION_NOT_ALLOWED',
    'conflict',
    from === null
      ? `A ${kind} payment never takes "${what}"`
      : `A ${kind} payment that is ${from} cannot take "${what}"`,
    { kind, status: from, event: what },
  );
}

/** The status a payment is recorded with, or a domain error when its kind never comes to be that way. */
export function initialStatus(kind: PaymentKind, origin: PaymentOrigin): PaymentStatus {
  const status = ORIGINS[kind][origin];
  if (status) return status;
  throw notAllowed(kind, null, origin);
}

export function canTransition(kind: PaymentKind, from: PaymentStatus, event: PaymentEvent): boolean {
  return TRANSITIONS[kind][from][event] !== undefined;
}

/** The status after `event`, or a domain error saying the payment cannot take it. */
export function nextStatus(kind: PaymentKind, from: PaymentStatus, event: PaymentEvent): PaymentStatus {
  const to = TRANSITIONS[kind][from][event];
  if (to) return to;
  throw notAllowed(kind, from, event);
}

/** The statuses a payment of this kind may take `event` from, in PAYMENT_STATUSES order: a conditional update's `status IN (…)`. */
export function fromStatuses(kind: PaymentKind, event: PaymentEvent): PaymentStatus[] {
  return PAYMENT_STATUSES.filter((from) => canTransition(kind, from, event));
}

/**
 * A conditional update for `event`: the statuses it may start from and the one it leads to. A
 * domain error when a payment of this kind never takes it.
 */
export function transition(kind: PaymentKind, event: PaymentEvent): { from: PaymentStatus[]; to: PaymentStatus } {
  const from = fromStatuses(kind, event);
  if (from.length === 0) throw notAllowed(kind, null, event);
  return { from, to: nextStatus(kind, from[0], event) };
}

/** No event moves a payment of this kind out of this status. */
export function isTerminal(kind: PaymentKind, status: PaymentStatus): boolean {
  return Object.keys(TRANSITIONS[kind][status]).length === 0;
}

/** Awaiting its outcome (requested, pending): not ended yet, whatever the kind. */
export const OPEN_STATUSES: readonly PaymentStatus[] = ['requested', 'pending'];

export function isOpenStatus(status: PaymentStatus): boolean {
  return OPEN_STATUSES.includes(status);
}
