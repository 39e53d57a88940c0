import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service.js';
import {
  AT_DELIVERED_STATUSES,
  AT_PENDING_STATUSES,
  AT_UNDELIVERED_STATUSES,
} from './africastalking-delivery-report.js';
import type { InDoubtPolicy } from './in-doubt-policy.js';

/** What became of a delivery report: recorded on its message, already there, or for no message Deni sent. */
export type DeliveryReportOutcome = 'recorded' | 'duplicate' | 'unknown';

/** Why a message was in doubt: its worker stopped mid-send, or the provider's answer was lost or unreadable. */
export type InDoubtCause = 'worker_lost' | 'no_answer';

const KNOWN = new Set([...AT_DELIVERED_STATUSES, ...AT_UNDELIVERED_STATUSES, ...AT_PENDING_STATUSES]);

/**
 * Delivery outcomes on the process registry: delivery reports (`deni_sms_delivery_reports_total`)
 * and messages in doubt (`deni_sms_in_doubt_total`).
 */
@Injectable()
export class SmsDeliveryMetrics {
  private readonly reports: Counter<'status' | 'outcome'>;
  private readonly doubts: Counter<'template' | 'policy' | 'cause'>;

  constructor(metrics: MetricsService) {
    this.reports = new Counter({
      name: 'deni_sms_delivery_reports_total',
      help: "Africa's Talking delivery reports by the status they gave and what Deni did with them",
      labelNames: ['status', 'outcome'] as const,
      registers: [metrics.registry],
    });
    this.doubts = new Counter({
      name: 'deni_sms_in_doubt_total',
      help: 'SMS whose request may have left without an answer recorded, by template, the policy applied (resend, or never: marked unknown) and cause',
      labelNames: ['template', 'policy', 'cause'] as const,
      registers: [metrics.registry],
    });
  }

  inDoubt(template: string, policy: InDoubtPolicy, cause: InDoubtCause): void {
    this.doubts.inc({ template, policy, cause });
  }

  report(status: string, outcome: DeliveryReportOutcome): void {
    // A status AT may add later is counted, under one label (labels stay few).
    this.reports.inc({ status: KNOWN.has(status) ? status : 'other', outcome });
  }
}
