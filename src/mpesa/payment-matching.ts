// Pure helpers for matching what Daraja says to a payment: whose answer it is, what a callback
// claims and where it disagrees with the request, and the small readers the flows share. No
// storage, no Daraja calls.
import { parseKenyanMobile } from '../common/phone-number.js';
import { parseStkCallback, type B2cResult, type TransactionStatusResult } from './daraja.parsers.js';
import type { CallbackMismatch, MismatchKind, MpesaPayment } from './mpesa-payment.entity.js';
import { B2C_RESULT_PAID, MpesaErrors, STK_SUCCESS } from './mpesa.rules.js';
import { isOpenStatus } from './payment-state.js';

/**
 * Whether a Transaction Status answer speaks of this withdrawal. By the ConversationID Daraja gave
 * in its B2C acknowledgement, whatever OriginatorConversationID the answer carries (Safaricom does
 * not say it echoes ours: its sample shows one of Daraja's own). A request never acknowledged has
 * no such ConversationID: its answer is matched by our OriginatorConversationID, or by being the
 * answer to one of our own questions about it (its Result.ConversationID is one Daraja gave when
 * it accepted the question). The amount, when given, must agree too.
 */
export function isAbout(payment: MpesaPayment, result: TransactionStatusResult): boolean {
  const { transaction } = result;
  if (transaction.amount !== undefined && transaction.amount !== payment.amount) return false;
  if (payment.conversationId !== null) return transaction.conversationId === payment.conversationId;
  if (
    transaction.originatorConversationId !== undefined &&
    transaction.originatorConversationId === payment.originatorConversationId
  )
    return true;
  return (payment.statusQueryConversationIds ?? []).includes(result.conversationId);
}

/**
 * The operator who resolved this withdrawal (resolveWithdrawal), or null when M-PESA's answer
 * ended it: from the resolution columns, which only resolveWithdrawal writes.
 */
export function resolvedBy(payment: MpesaPayment): string | null {
  if (payment.resolvedAt === null) return null;
  return payment.resolvedBy ?? 'an operator';
}

/** `26.0 h`, `12 min`, `3 s`: how long, for a person. */
export function duration(ms: number): string {
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 1_000)} s`;
}

/** What a callback claims about a payment. */
export type Claims = Omit<CallbackMismatch, 'at' | 'kinds'>;

/** The claims of an STK callback body (null when it cannot be read as one). */
export function stkClaims(body: unknown): Claims | null {
  try {
    const r = parseStkCallback(body);
    return {
      resultCode: r.resultCode,
      receipt: r.receipt ?? null,
      amount: r.amount ?? null,
      phoneNumber: r.phoneNumber ?? null,
    };
  } catch {
    return null;
  }
}

/** The same callback again: same outcome and receipt. */
export function sameClaims(a: Claims, b: Claims): boolean {
  return a.resultCode === b.resultCode && (a.receipt ?? '').toUpperCase() === (b.receipt ?? '').toUpperCase();
}

/**
 * Whether a phone number as Daraja gave it can be this MSISDN. Absent or redacted (`<redacted>`):
 * nothing to compare. Masked (`2547****149`, `2547 ***** 126`): its visible digits at each end.
 */
export function phoneAgrees(claimed: string | null, msisdn: string): boolean {
  if (claimed === null) return true;
  const given = claimed.replace(/\s+/g, '');
  if (/^\d+$/.test(given)) {
    // Written in any form of a Kenyan number (2547…, 07…): the same number.
    const read = parseKenyanMobile(given);
    return (read.ok ? read.msisdn : given) === msisdn;
  }
  if (!given.includes('*')) return true;
  const head = given.slice(0, given.indexOf('*'));
  const tail = given.slice(given.lastIndexOf('*') + 1);
  return /^\d*$/.test(head) && /^\d*$/.test(tail) && msisdn.startsWith(head) && msisdn.endsWith(tail);
}

/** Why a paid STK callback's own claims disagree with the request. */
export function stkRequestMismatches(payment: MpesaPayment, claims: Claims): MismatchKind[] {
  if (claims.resultCode !== STK_SUCCESS) return [];
  const kinds: MismatchKind[] = [];
  if (claims.amount !== payment.amount) kinds.push('amount');
  if (!phoneAgrees(claims.phoneNumber, payment.phoneNumber)) kinds.push('phone');
  return kinds;
}

/**
 * The receipt a confirmed top-up keeps: that of the first paid callback whose amount and phone
 * agree with the request (the raw first callback, then the flagged ones in order), never one that
 * disagreed or that Daraja's query contradicted. Null when none did.
 */
export function agreeingReceipt(payment: MpesaPayment): string | null {
  const first = payment.callback ? stkClaims(payment.callback) : null;
  const flagged = payment.callbackMismatches ?? [];
  const contradicted = (c: Claims) => flagged.some((m) => sameClaims(m, c) && m.kinds.includes('not_confirmed'));
  const agreeing = [...(first ? [first] : []), ...flagged].find(
    (c) =>
      c.resultCode === STK_SUCCESS && c.receipt && !contradicted(c) && stkRequestMismatches(payment, c).length === 0,
  );
  return agreeing?.receipt ?? null;
}

/**
 * What a B2C result claims (a queue timeout: that nothing was paid, whatever its code). The
 * receipt is TransactionReceipt, else the TransactionID; the phone the receiver's number.
 */
export function b2cClaims(result: B2cResult, timeout = false): Claims {
  return {
    resultCode: timeout && result.resultCode === B2C_RESULT_PAID ? null : result.resultCode,
    receipt: result.receipt ?? result.transactionId ?? null,
    amount: result.amount ?? null,
    phoneNumber: result.receiverPhone ?? null,
  };
}

/** The same B2C result again: every claim the same. */
export function sameB2cClaims(a: Claims, b: Claims): boolean {
  return sameClaims(a, b) && a.amount === b.amount && a.phoneNumber === b.phoneNumber;
}

/** Why a B2C result saying paid disagrees with its request: the amount paid, or the number paid. */
export function b2cRequestMismatches(payment: MpesaPayment, claims: Claims): MismatchKind[] {
  if (claims.resultCode !== B2C_RESULT_PAID) return [];
  const kinds: MismatchKind[] = [];
  if (claims.amount !== payment.amount) kinds.push('amount');
  if (!phoneAgrees(claims.phoneNumber, payment.phoneNumber)) kinds.push('phone');
  return kinds;
}

/** A withdrawal not ended yet. */
export function isOpen(payment: MpesaPayment): boolean {
  return isOpenStatus(payment.status);
}

/**
 * A withdrawal still open that a B2C result was flagged on: its money stays held, whatever answer
 * comes next, until an operator resolves it.
 */
export function heldForOperator(payment: MpesaPayment): boolean {
  return isOpen(payment) && (payment.callbackMismatches ?? []).length > 0;
}

/** A callback body read by its parser; unreadable is MPESA.BAD_CALLBACK (422), never a crash. */
export function readCallback<T>(parse: (body: unknown) => T, body: unknown): T {
  try {
    return parse(body);
  } catch (e) {
    throw MpesaErrors.badCallback((e as Error).message);
  }
}
