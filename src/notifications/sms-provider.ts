import { Injectable, Logger } from '@nestjs/common';

export interface SmsSendResult {
  providerMessageId: string;
}

/**
 * Sends one SMS. Implementations throw on failure: the sender's queue retries any error, except a
 * PermanentSmsError, which marks the message failed at once, and an SmsInDoubtError, which follows
 * the template's in-doubt policy (in-doubt-policy.ts).
 */
export interface SmsProvider {
  readonly name: string;
  send(to: string, body: string, notificationId: string): Promise<SmsSendResult>;
}

export const SMS_PROVIDER = Symbol('SMS_PROVIDER');

/**
 * A refusal that another attempt cannot change (a blacklisted or invalid number, say): the message
 * is marked failed without using up the remaining attempts.
 */
export class PermanentSmsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentSmsError';
  }
}

/**
 * The request may have reached the provider, and the SMS gone out, although no answer Deni can
 * read came back (a timeout, a connection lost after the request left, a gateway's error page).
 * Sending again could deliver the message twice, so the template's in-doubt policy decides.
 */
export class SmsInDoubtError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SmsInDoubtError';
  }
}

/**
 * The development provider: the text stays in the outbox row (visible to admins and the phone
 * simulator) and nothing leaves the machine. The log line names the message, not its text,
 * because texts can carry one-time codes.
 */
@Injectable()
export class LogSmsProvider implements SmsProvider {
  readonly name = 'log';
  private readonly logger = new Logger('SMS');

  send(to: string, body: string, notificationId: string): Promise<SmsSendResult> {
    this.logger.log({ notificationId, to, length: body.length }, 'SMS recorded (log provider, not sent)');
    return Promise.resolve({ providerMessageId: `log-${notificationId}` });
  }
}
