import { DomainError } from '../common/domain-error.js';

/**
 * Africa's Talking's delivery report (docs.africastalking.com/sms/notifications): a form-urlencoded
 * POST to the account's delivery-report URL with `id` (the `messageId` of the send), `status`,
 * `phoneNumber`, `networkCode`, `failureReason` (only with Rejected or Failed) and `retryCount`.
 * Sample: test/fixtures/providers/at-sms-delivery-report-failed.txt.
 */
export interface AtDeliveryReport {
  id: string;
  status: string;
  phoneNumber: string | null;
  networkCode: string | null;
  failureReason: string | null;
  retryCount: number | null;
}

/** Final statuses: the handset got the message. */
export const AT_DELIVERED_STATUSES: ReadonlySet<string> = new Set(['Success']);
/**
 * Final statuses: it will never get it. Rejected and Failed are AT's documented finals;
 * AbsentSubscriber and Expired are sent by some networks for a phone that stayed unreachable.
 */
export const AT_UNDELIVERED_STATUSES: ReadonlySet<string> = new Set([
  'Rejected',
  'Failed',
  'AbsentSubscriber',
  'Expired',
]);
/** On the way: taken by AT's network (Sent), by the operator (Submitted), queued there (Buffered). */
export const AT_PENDING_STATUSES: ReadonlySet<string> = new Set(['Sent', 'Submitted', 'Buffered']);

const bad = (why: string) =>
  new DomainError('SMS.BAD_DELIVERY_REPORT', 'invalid', `Unreadable delivery report: ${why}`);

/** One form field: a string, or absent (a repeated field arrives as an array and is refused). */
function field(form: Record<string, unknown>, name: string, max: number): string | null {
  const value = form[name];
  if (value === undefined || value === '') return null;
  if (typeof value !== 'string') throw bad(`${name} must be given once, as text`);
  if (value.length > max) throw bad(`${name} is longer than ${max} characters`);
  return value;
}

/** Reads the form body of a delivery report, or throws SMS.BAD_DELIVERY_REPORT (422). */
export function readDeliveryReport(body: unknown): AtDeliveryReport {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('expected form fields');
  const form = body as Record<string, unknown>;
  const id = field(form, 'id', 128);
  const status = field(form, 'status', 32);
  if (!id) throw bad('id is missing');
  if (!status) throw bad('status is missing');
  const retry = field(form, 'retryCount', 9);
  if (retry !== null && !/^\d+$/.test(retry)) throw bad('retryCount is not a whole number');
  return {
    id,
    status,
    phoneNumber: field(form, 'phoneNumber', 32),
    networkCode: field(form, 'networkCode', 16),
    failureReason: field(form, 'failureReason', 64),
    retryCount: retry === null ? null : Number(retry),
  };
}
