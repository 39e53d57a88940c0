import type { TemplateName } from './templates.js';

/**
 * What to do with a message in doubt: its request may have reached the provider (the worker died
 * after the request left, or the provider's answer was lost or unreadable), but no answer was
 * recorded, so nobody knows whether the subscriber got it.
 *
 * - `resend`: send it again. A second copy is harmless, or a lost copy is worse.
 * - `never`: do not send it again. A second copy would read as a second event ("Ksh 500
 *   received" twice reads as two deposits), so the row becomes `unknown` for an operator; the fact
 *   it reported stays readable on USSD (balance, statement, loans), from the ledger.
 *
 * A message claimed but whose request never left is not in doubt: it is simply sent.
 */
export type InDoubtPolicy = 'resend' | 'never';

/** The policy of every template, in one place (docs/queues.md#messages-in-doubt repeats it). */
export const IN_DOUBT_POLICY: { readonly [T in TemplateName]: InDoubtPolicy } = {
  // A one-time code is useless unless it arrives, and the same code twice changes nothing.
  'auth.otp': 'resend',
  // Warnings about the PIN: a repeated warning misleads no one; a lost one hides a takeover.
  'pin.changed': 'resend',
  'pin.locked': 'resend',
  // Every other message reports an event about money (a loan, a deposit, a repayment, a payment
  // or a queued USSD write): twice reads as two events.
  'loan.requested': 'never',
  'loan.approved': 'never',
  'loan.declined': 'never',
  'loan.cancelled': 'never',
  'loan.expired': 'never',
  'deposit.received': 'never',
  'loan.repayment_received': 'never',
  'loan.repaid_borrower': 'never',
  'loan.repaid_lender': 'never',
  'mpesa.topup_failed': 'never',
  'mpesa.withdrawal_sent': 'never',
  'mpesa.withdrawal_failed': 'never',
  'mpesa.withdrawal_unconfirmed': 'never',
  'offline.applied': 'never',
  'offline.rejected': 'never',
  'offline.expired': 'never',
};

/** A template's policy; a name no longer in the table (an old row) is never sent again. */
export function inDoubtPolicy(template: string): InDoubtPolicy {
  return (IN_DOUBT_POLICY as Record<string, InDoubtPolicy | undefined>)[template] ?? 'never';
}

/** The templates whose messages in doubt are sent again, for the relay's query. */
export const RESENT_IN_DOUBT: readonly string[] = Object.entries(IN_DOUBT_POLICY)
  .filter(([, policy]) => policy === 'resend')
  .map(([template]) => template);
