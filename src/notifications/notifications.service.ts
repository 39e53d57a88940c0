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
import { Notification } from './notification.entity.js';
import { SmsDeliveryMetrics, type DeliveryReportOutcome } from './sms-delivery.metrics.js';
import { PermanentSmsError, SMS_PROVIDER, type SmsProvider } from './sms-provider.js';
import { fitOneSms } from './sms-text.js';
import { carriesSecret, maskSecret, renderTemplate, type TemplateName, type TemplateParams } from './templates.js';

export interface NotifyInput<T extends TemplateName> {
  phoneNumber: string;
  language: Language;
  template: T;
  params: TemplateParams[T];
}

export type SendOutcome = 'sent' | 'skipped' | 'retry' | 'failed';

// A row left in 'sending' this long was abandoned by a crashed worker.
const STALE_SENDING_MS = 5 * 60_000;

@Injectable()
export class NotificationsService {
  private readonly logger = new Logger(NotificationsService.name);
  private readonly settings: AppConfig['notifications'];
  private readonly isProduction: boolean;

  constructor(
    @InjectRepository(Notification) private readonly notifications: Repository<Notification>,
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

  /** Queue a send; the job id is the notification id, so a message is never queued twice at once. */
  async dispatch(notificationId: string): Promise<void> {
    await this.jobs.add(
      JobName.SendNotification,
      { notificationId },
      {
        jobId: notificationId,
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
   * for another attempt. A PermanentSmsError (a refused number) fails the message at once.
   */
  async send(notificationId: string, finalAttempt: boolean): Promise<SendOutcome> {
    const claimed = await this.notifications
      .createQueryBuilder()
      .update(Notification)
      .set({ status: 'sending', attempts: () => 'attempts + 1' })
      .where('id = :id AND status = :pending', { id: notificationId, pending: 'pending' })
      .returning(['id', 'phoneNumber', 'body', 'template'])
      .execute();
    const [row] = claimed.raw as ({ id: string; phone_number: string; body: string; template: string } | undefined)[];
    if (!row) return 'skipped'; // already sent, failed for good, or being sent by another worker
    try {
      const result = await this.provider.send(row.phone_number, row.body, row.id);
      await this.notifications.update(
        { id: row.id },
        {
          status: 'sent',
          sentAt: new Date(),
          provider: this.provider.name,
          providerMessageId: result.providerMessageId,
          lastError: null,
          // In production a one-time code is not kept once it has left.
          ...(this.isProduction && carriesSecret(row.template) ? { body: maskSecret(row.body) } : {}),
        },
      );
      return 'sent';
    } catch (err) {
      const message = (err as Error).message?.slice(0, 500) ?? 'unknown error';
      const permanent = err instanceof PermanentSmsError;
      await this.notifications.update(
        { id: row.id },
        { status: finalAttempt || permanent ? 'failed' : 'pending', lastError: message, provider: this.provider.name },
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
  }

  /**
   * Re-queues what a crash left behind: rows never handed to the queue (the process died between
   * commit and enqueue) and rows stuck in 'sending' (it died mid-send). Rows waiting for a retry
   * belong to the queue's backoff and are left alone. Returns how many were handed to the sender.
   */
  async relay(limit = 500): Promise<number> {
    const stale = await this.notifications
      .createQueryBuilder()
      .update(Notification)
      .set({ status: 'pending' })
      .where(`status = 'sending' AND updated_at < now() - make_interval(secs => :secs)`, {
        secs: STALE_SENDING_MS / 1000,
      })
      .returning(['id'])
      .execute();
    const never = await this.notifications
      .createQueryBuilder('n')
      .select('n.id', 'id')
      .where(`n.status = 'pending' AND n.attempts = 0 AND n.created_at < now() - make_interval(secs => :secs)`, {
        secs: this.settings.relayAgeMs / 1000,
      })
      .orderBy('n.created_at', 'ASC')
      .limit(limit)
      .getRawMany<{ id: string }>();
    const ids = [...new Set([...(stale.raw as { id: string }[]), ...never].map((r) => r.id))];
    for (const id of ids) await this.dispatch(id);
    if (ids.length) this.logger.warn({ count: ids.length }, 'relayed notifications a crash left behind');
    return ids.length;
  }

  /**
   * Records an Africa's Talking delivery report on the message it names (by the messageId AT
   * answered the send with). Only a message AT took ('sent') changes: a final report makes it
   * 'delivered' or 'failed' (with AT's failureReason), an intermediate one (Sent, Submitted,
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
        status: delivered ? 'delivered' : 'failed',
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
   * Newest first, for admins and the phone simulator. In production one-time codes are masked:
   * outside it they stay readable, since developers onboard through the outbox of the log provider.
   */
  async listForPhone(phoneNumber: string, limit = 50): Promise<Notification[]> {
    const rows = await this.notifications.find({ where: { phoneNumber }, order: { createdAt: 'DESC' }, take: limit });
    if (this.isProduction) for (const row of rows) if (carriesSecret(row.template)) row.body = maskSecret(row.body);
    return rows;
  }
}
