import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import type { Tx } from '../database/transaction.service.js';
import { JobsService } from '../queues/jobs.service.js';
import { JobName } from '../queues/queue-names.js';
import type { Language } from '../common/language.js';
import {
  AT_DELIVERED_STATUSES,
  AT_UNDELIVERED_STATUSES,
  type AtDeliveryReport,
} from './africastalking-delivery-report.js';
import { inDoubtPolicy, RESENT_IN_DOUBT } from './in-doubt-policy.js';
import { Notification, type NotificationStatus } from './notification.entity.js';
import { OutboxRepository, type Claim } from './outbox.repository.js';
import { SmsDeliveryMetrics, type DeliveryReportOutcome } from './sms-delivery.metrics.js';
import {
  PermanentSmsError,
  SMS_PROVIDER,
  SmsInDoubtError,
  type SmsProvider,
  type SmsSendResult,
} from './sms-provider.js';
import { fitOneSms } from './sms-text.js';
import { carriesSecret, maskSecret, renderTemplate, type TemplateName, type TemplateParams } from './templates.js';

export interface NotifyInput<T extends TemplateName> {
  phoneNumber: string;
  language: Language;
  template: T;
  params: TemplateParams[T];
}

/** What one send attempt came to; `unknown`: in doubt, and not to be sent again. */
export type SendOutcome = 'sent' | 'skipped' | 'retry' | 'failed' | 'unknown';

/** Writing the provider's answer is tried this often before the row is left to the relay. */
const RECORD_TRIES = 3;
const RECORD_RETRY_MS = 200;

/** last_error of a row the relay took up in doubt (the message itself says what became of it). */
const WORKER_LOST =
  'In doubt: its worker stopped after the request left and before the answer was recorded (docs/queues.md#messages-in-doubt)';

@Injectable()
export class NotificationsService {
  private readonly logger = new Logger(NotificationsService.name);
  private readonly settings: AppConfig['notifications'];
  private readonly isProduction: boolean;

  constructor(
    @InjectRepository(Notification) private readonly notifications: Repository<Notification>,
    private readonly outbox: OutboxRepository,
    @Inject(SMS_PROVIDER) private readonly provider: SmsProvider,
    private readonly jobs: JobsService,
    private readonly deliveryMetrics: SmsDeliveryMetrics,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('notifications', { infer: true });
    this.isProduction = config.get('isProduction', { infer: true });
  }

  /**
   * Writes the message into the outbox inside the caller's transaction; it is handed to the
   * sender once that transaction commits (and by the relay if the process dies first). The text is
   * fitted to one GSM-7 SMS here (see sms-text.ts), so the row holds exactly what is sent.
   */
  async notify<T extends TemplateName>(tx: Tx, input: NotifyInput<T>): Promise<string> {
    const row = tx.manager.getRepository(Notification).create({
      phoneNumber: input.phoneNumber,
      language: input.language,
      template: input.template,
      body: fitOneSms(renderTemplate(input.template, input.language, input.params)),
      status: 'pending',
    });
    // insert, not save: a new row needs no persistence graph; the id comes back with it.
    await tx.manager.getRepository(Notification).insert(row);
    const saved = row;
    tx.afterCommit(() => this.dispatch(saved.id));
    return saved.id;
  }

  /**
   * Queue a send. The job id is the notification id, so a message is never queued twice at once;
   * a row the relay takes up gets a job id of its own (`jobId`), as the first job may still exist
   * (held by the stopped worker, or failed). Two jobs for one row send it once: each send claims
   * the row first.
   */
  async dispatch(notificationId: string, jobId = notificationId): Promise<void> {
    await this.jobs.add(
      JobName.SendNotification,
      { notificationId },
      {
        jobId,
        // Freed at once, so the relay can queue the same id again after a crash; sending twice
        // is prevented by the row's status, not by the job id.
        removeOnComplete: true,
        attempts: this.settings.maxAttempts,
        backoff: { type: 'exponential', delay: this.settings.backoffMs },
      },
    );
  }

  /**
   * Sends one message if it is still due. Returns what happened; throws only to ask the queue
   * for another attempt. A PermanentSmsError (a refused number) fails the message at once; an
   * SmsInDoubtError follows the template's in-doubt policy.
   *
   * The row is claimed and held for a lease (as long as a send may take: the provider's timeout
   * plus NOTIFICATIONS_LEASE_MARGIN_MS), marked as about to leave, sent, and its answer recorded.
   * A worker that dies between the mark and the record leaves a message in doubt, which the relay
   * takes up once the lease ends; one that dies before the mark leaves a message simply not sent.
   */
  async send(notificationId: string, finalAttempt: boolean): Promise<SendOutcome> {
    const lease = this.settings.sendLeaseMs;
    const claim = await this.outbox.claim(notificationId, lease);
    if (!claim) return 'skipped'; // already sent, failed for good, or being sent by another worker
    if (!(await this.outbox.markRequestSent(claim, lease))) {
      // The lease ran out before the request could leave: the relay may give the row to another worker.
      this.logger.warn({ notificationId }, 'SMS not sent: its lease ran out before the request left');
      return 'skipped';
    }
    let result: SmsSendResult;
    try {
      result = await this.provider.send(claim.phoneNumber, claim.body, claim.id);
    } catch (err) {
      return this.recordFailure(claim, err, finalAttempt);
    }
    await this.recordSent(claim, result);
    return 'sent';
  }

  /**
   * Writes the provider's answer, tried again briefly: the message has left, and a row left
   * without its answer becomes a message in doubt. Still failing, it is left to the relay.
   */
  private async recordSent(claim: Claim, result: SmsSendResult): Promise<void> {
    const fields = {
      provider: this.provider.name,
      providerMessageId: result.providerMessageId,
      // In production a one-time code is not kept once it has left.
      ...(this.isProduction && carriesSecret(claim.template) ? { body: maskSecret(claim.body) } : {}),
    };
    for (let tries = 1; ; tries += 1) {
      try {
        if (!(await this.outbox.recordSent(claim, fields))) {
          this.logger.warn(
            { notificationId: claim.id, providerMessageId: result.providerMessageId },
            'SMS sent, but its row was claimed again meanwhile; the answer is not recorded',
          );
        }
        return;
      } catch (err) {
        if (tries >= RECORD_TRIES) {
          this.logger.error(
            { notificationId: claim.id, providerMessageId: result.providerMessageId, err },
            'SMS sent, but its answer could not be recorded: the message is in doubt',
          );
          throw err;
        }
        await new Promise((r) => setTimeout(r, RECORD_RETRY_MS * tries));
      }
    }
  }

  private async recordFailure(claim: Claim, err: unknown, finalAttempt: boolean): Promise<SendOutcome> {
    const notificationId = claim.id;
    const message = (err as Error).message?.slice(0, 500) ?? 'unknown error';
    if (err instanceof SmsInDoubtError) {
      const policy = inDoubtPolicy(claim.template);
      this.deliveryMetrics.inDoubt(claim.template, policy, 'no_answer');
      if (policy === 'never') {
        await this.outbox.recordOutcome(claim, 'unknown', `In doubt: ${message}`, this.provider.name);
        this.logger.warn(
          { notificationId, template: claim.template, err },
          'SMS in doubt and not sent again (its template is never repeated blindly): unknown',
        );
        return 'unknown';
      }
    }
    const permanent = err instanceof PermanentSmsError;
    await this.outbox.recordOutcome(
      claim,
      finalAttempt || permanent ? 'failed' : 'pending',
      message,
      this.provider.name,
    );
    if (permanent) {
      // Returning (not throwing) completes the job: no attempts are spent on a refused number.
      this.logger.warn({ notificationId, err }, 'SMS refused for good; not retried');
      return 'failed';
    }
    if (finalAttempt) {
      this.logger.error({ notificationId, err }, 'SMS failed for good');
      return 'failed';
    }
    throw err;
  }

  /**
   * Takes up what a crash left behind. Rows held by a worker whose lease ran out: one whose
   * request never left is sent; one in doubt follows its template's policy (sent again, or
   * `unknown` for an operator). Rows never handed to the queue (the process died between commit
   * and enqueue) are queued. Rows waiting for a retry belong to the queue's backoff and are left
   * alone. Returns how many were handed to the sender.
   */
  async relay(limit = 500): Promise<number> {
    const takenUp = await this.outbox.takeUpExpiredLeases(RESENT_IN_DOUBT, WORKER_LOST, limit);
    let handed = 0;
    for (const row of takenUp) {
      if (row.requestSentAt !== null || row.status === 'unknown') {
        const policy = inDoubtPolicy(row.template);
        this.deliveryMetrics.inDoubt(row.template, policy, 'worker_lost');
        this.logger.warn(
          { notificationId: row.id, template: row.template, policy },
          row.status === 'unknown'
            ? 'SMS in doubt after its worker stopped: not sent again (unknown)'
            : 'SMS in doubt after its worker stopped: sent again',
        );
      }
      if (row.status === 'pending') {
        await this.dispatch(row.id, `${row.id}-${row.attempt}`);
        handed += 1;
      }
    }
    const never = await this.outbox.neverQueued(this.settings.relayAgeMs, limit);
    for (const id of never) await this.dispatch(id);
    handed += never.length;
    if (handed) this.logger.warn({ count: handed }, 'relayed notifications a crash left behind');
    return handed;
  }

  /**
   * Records an Africa's Talking delivery report on the message it names (by the messageId AT
   * answered the send with). Only a message AT took ('sent') changes: a final report makes it
   * 'delivered', 'rejected' (Rejected: the network refused it) or 'failed' (with AT's
   * failureReason, when the report has one), an intermediate one (Sent, Submitted,
   * Buffered) only notes its status. So the same report twice, or a late intermediate one after
   * the final one, changes nothing. A report for no message Deni sent is logged and ignored.
   */
  async recordDeliveryReport(report: AtDeliveryReport): Promise<DeliveryReportOutcome> {
    const delivered = AT_DELIVERED_STATUSES.has(report.status);
    const undelivered = AT_UNDELIVERED_STATUSES.has(report.status);
    const fields = {
      deliveryStatus: report.status,
      deliveryFailureReason: report.failureReason,
      deliveryRetryCount: report.retryCount,
      deliveryNetworkCode: report.networkCode,
      deliveryReportedAt: () => 'now()',
    };
    const update = this.notifications
      .createQueryBuilder()
      .update(Notification)
      .where(`provider = 'africastalking' AND provider_message_id = :id AND status = 'sent'`, { id: report.id });
    if (delivered || undelivered) {
      update.set({
        ...fields,
        status: delivered ? 'delivered' : report.status === 'Rejected' ? 'rejected' : 'failed',
        ...(undelivered
          ? {
              lastError: `Africa's Talking reported ${report.status}${report.failureReason ? `: ${report.failureReason}` : ''}`,
            }
          : {}),
      });
    } else {
      update
        .set(fields)
        .andWhere(
          '(delivery_status, delivery_failure_reason, delivery_retry_count, delivery_network_code) IS DISTINCT FROM (:status, :reason, :retry::int, :network)',
          {
            status: report.status,
            reason: report.failureReason,
            retry: report.retryCount,
            network: report.networkCode,
          },
        );
    }
    const changed = await update.returning(['id']).execute();
    const [row] = changed.raw as ({ id: string } | undefined)[];
    let outcome: DeliveryReportOutcome = 'recorded';
    if (!row) {
      const known = await this.notifications.exists({
        where: { provider: 'africastalking', providerMessageId: report.id },
      });
      outcome = known ? 'duplicate' : 'unknown';
    }
    this.deliveryMetrics.report(report.status, outcome);
    const context = {
      notificationId: row?.id,
      providerMessageId: report.id,
      status: report.status,
      failureReason: report.failureReason ?? undefined,
    };
    if (outcome === 'unknown') this.logger.warn(context, 'delivery report for no message Deni sent; ignored');
    else if (outcome === 'duplicate') this.logger.log(context, 'delivery report already recorded; nothing changed');
    else this.logger.log(context, 'delivery report recorded');
    return outcome;
  }

  /**
   * Newest first, for admins and the phone simulator: a number's messages, the messages in one
   * status (`unknown` ones wait for an operator), or both. In production one-time codes are masked:
   * outside it they stay readable, since developers onboard through the outbox of the log provider.
   */
  async list(filter: { phoneNumber?: string; status?: NotificationStatus }, limit = 50): Promise<Notification[]> {
    const rows = await this.outbox.list(filter, limit);
    if (this.isProduction) for (const row of rows) if (carriesSecret(row.template)) row.body = maskSecret(row.body);
    return rows;
  }

  /** A number's messages, newest first (see list). */
  listForPhone(phoneNumber: string, limit = 50): Promise<Notification[]> {
    return this.list({ phoneNumber }, limit);
  }
}
