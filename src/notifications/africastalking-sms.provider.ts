import { Logger } from '@nestjs/common';
import { requestNeverLeft } from '../common/http-failures.js';
import type { AppConfig } from '../config/app-config.js';
import { PermanentSmsError, SmsInDoubtError, type SmsProvider, type SmsSendResult } from './sms-provider.js';

export type AfricasTalkingSettings = AppConfig['sms']['africasTalking'];

/** One recipient of AT's reply (`SMSMessageData.Recipients[]`). */
export interface AtRecipient {
  statusCode: number;
  number: string;
  status: string;
  cost: string;
  messageId: string;
}

/** AT's reply to `POST /version1/messaging`. */
export interface AtSendReply {
  SMSMessageData: { Message: string; Recipients: AtRecipient[] };
}

/** Recipient statusCodes meaning AT took the message: 100 Processed, 101 Sent, 102 Queued. */
export const AT_ACCEPTED_CODES: ReadonlySet<number> = new Set([100, 101, 102]);

/**
 * Recipient statusCodes that another attempt cannot change: 403 InvalidPhoneNumber,
 * 404 UnsupportedNumberType, 406 UserInBlacklist, 407 CouldNotRoute, 409 DoNotDisturbRejection.
 * The others (401 RiskHold, 402 InvalidSenderId, 405 InsufficientBalance, 500 InternalServerError,
 * 501 GatewayError, 502 RejectedByGateway) concern our account or AT's side and are retried: an
 * operator can top up the balance or fix the sender id while the queue backs off.
 */
export const AT_PERMANENT_CODES: ReadonlySet<number> = new Set([403, 404, 406, 407, 409]);
const AT_PERMANENT_STATUSES: ReadonlySet<string> = new Set([
  'InvalidPhoneNumber',
  'UnsupportedNumberType',
  'UserInBlacklist',
  'CouldNotRoute',
  'DoNotDisturbRejection',
]);

/** A short, single-line excerpt of a reply body for error messages. */
function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat || '(empty body)';
}

function isReply(value: unknown): value is { SMSMessageData: { Message?: unknown; Recipients?: unknown } } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AtSendReply).SMSMessageData === 'object' &&
    (value as AtSendReply).SMSMessageData !== null
  );
}

/**
 * Reads AT's reply to a send to one number. Returns the message id when AT accepted the message;
 * otherwise throws an Error saying why (retried by the queue), a PermanentSmsError for a refusal
 * of the recipient itself, or an SmsInDoubtError for a reply that does not say what became of the
 * message: a 5xx or a 2xx without AT's body (a gateway's page, say), a recipient accepted under a
 * failing HTTP status, or accepted without a messageId. Per-recipient statuses win over the HTTP
 * status: AT answers a DoNotDisturbRejection with HTTP 409 and the usual body.
 */
export function readSendReply(httpStatus: number, text: string, to: string): SmsSendResult {
  const http = `HTTP ${httpStatus}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!isReply(parsed)) {
    // A 4xx without AT's body is a refusal of the request (401 for a wrong apiKey); a 5xx may come
    // from a gateway in front of AT, after AT took the message.
    if (httpStatus < 200 || httpStatus >= 300) {
      const why = `Africa's Talking answered ${http}: ${excerpt(text)}`;
      throw httpStatus >= 500 ? new SmsInDoubtError(why) : new Error(why);
    }
    throw new SmsInDoubtError(`Africa's Talking sent an unreadable reply (${http}): ${excerpt(text)}`);
  }
  const data = parsed.SMSMessageData;
  const recipients = Array.isArray(data.Recipients) ? (data.Recipients as Partial<AtRecipient>[]) : [];
  const recipient = recipients.find((r) => r?.number === to) ?? (recipients.length === 1 ? recipients[0] : undefined);
  if (!recipient) {
    // AT answers e.g. {"Message":"InvalidPhoneNumber","Recipients":[]} when no number was usable.
    const message = typeof data.Message === 'string' ? data.Message : '';
    const why = `Africa's Talking sent to nobody (${http}): ${excerpt(message)}`;
    if (AT_PERMANENT_STATUSES.has(message.trim())) throw new PermanentSmsError(why);
    throw new Error(why);
  }
  const { statusCode, status, messageId } = recipient;
  const accepted = typeof statusCode === 'number' ? AT_ACCEPTED_CODES.has(statusCode) : status === 'Success';
  if (accepted && httpStatus >= 200 && httpStatus < 300) {
    if (typeof messageId !== 'string' || messageId === '' || messageId === 'None') {
      throw new SmsInDoubtError(`Africa's Talking accepted the message without a messageId (${http})`);
    }
    return { providerMessageId: messageId };
  }
  if (accepted) {
    throw new SmsInDoubtError(
      `Africa's Talking accepted ${recipient.number ?? to} under a failing status (statusCode ${statusCode ?? 'none'}, ${http})`,
    );
  }
  const why = `Africa's Talking refused ${recipient.number ?? to}: ${status ?? 'no status'} (statusCode ${statusCode ?? 'none'}, ${http})`;
  if (typeof statusCode === 'number' ? AT_PERMANENT_CODES.has(statusCode) : AT_PERMANENT_STATUSES.has(String(status))) {
    throw new PermanentSmsError(why);
  }
  throw new Error(why);
}

/** Deni stores numbers as 2547XXXXXXXX; AT wants E.164 with the plus. */
export function toE164(phone: string): string {
  const digits = phone.startsWith('+') ? phone.slice(1) : phone;
  if (!/^\d{8,15}$/.test(digits)) throw new PermanentSmsError(`not a phone number: ${phone}`);
  return `+${digits}`;
}

/**
 * Africa's Talking bulk SMS: `POST {AT_BASE_URL}/version1/messaging`, form-urlencoded fields
 * `username`, `to`, `message` and `from` (the sender id, when set), authenticated by the `apiKey`
 * header. One number per request, so each outbox row has its own result and message id.
 *
 * A connection that was never made is an ordinary failure, retried. A timeout, or a connection
 * lost once the request may have left, is an SmsInDoubtError: AT may have sent the message before
 * the reply was lost, and the template's in-doubt policy decides whether to send it again.
 */
export class AfricasTalkingSmsProvider implements SmsProvider {
  readonly name = 'africastalking';
  private readonly logger = new Logger('SMS');
  private readonly url: string;

  constructor(private readonly settings: AfricasTalkingSettings) {
    if (!settings.username || !settings.apiKey)
      throw new Error('AT_USERNAME and AT_API_KEY are required for SMS_PROVIDER=africastalking');
    this.url = `${settings.baseUrl.replace(/\/+$/, '')}/version1/messaging`;
  }

  /** The form body of one send (exported shape for tests; the apiKey is never part of it). */
  formFor(to: string, body: string): URLSearchParams {
    const form = new URLSearchParams({ username: this.settings.username!, to: toE164(to), message: body });
    if (this.settings.senderId) form.set('from', this.settings.senderId);
    return form;
  }

  async send(to: string, body: string, notificationId: string): Promise<SmsSendResult> {
    const form = this.formFor(to, body);
    const number = form.get('to')!;
    let status: number;
    let text: string;
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: {
          apiKey: this.settings.apiKey!,
          Accept: 'application/json',
          'Content-Type': 'application/x-www-form-urlencoded',
        },
        body: form.toString(),
        signal: AbortSignal.timeout(this.settings.timeoutMs),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError' || e.name === 'AbortError') {
        throw new SmsInDoubtError(`Africa's Talking did not answer within ${this.settings.timeoutMs} ms`, {
          cause: err,
        });
      }
      const why = `could not reach Africa's Talking: ${e.cause?.code ?? e.cause?.message ?? e.message}`;
      if (requestNeverLeft(e.cause?.code)) throw new Error(why, { cause: err });
      throw new SmsInDoubtError(why, { cause: err });
    }
    const result = readSendReply(status, text, number);
    this.logger.log(
      { notificationId, to: number, providerMessageId: result.providerMessageId },
      "SMS sent (Africa's Talking)",
    );
    return result;
  }
}
