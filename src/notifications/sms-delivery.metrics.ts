import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service.js';
import {
  AT_DELIVERED_STATUSES,
  AT_PENDING_STATUSES,
  AT_UNDELIVERED_STATUSES,
} from './africastalking-delivery-report.js';

/** What became of a delivery report: recorded on its message, already there, or for no message Deni sent. */
export type DeliveryReportOutcome = 'recorded' | 'duplicate' | 'unknown';

const KNOWN = new Set([...AT_DELIVERED_STATUSES, ...AT_UNDELIVERED_STATUSES, ...AT_PENDING_STATUSES]);

/** Delivery outcomes on the process registry (`deni_sms_delivery_reports_total`). */
@Injectable()
export class SmsDeliveryMetrics {
  private readonly reports: Counter<'status' | 'outcome'>;

  constructor(metrics: MetricsService) {
    this.reports = new Counter({
      name: 'deni_sms_delivery_reports_total',
      help: "Africa's Talking delivery reports by the status they gave and what Deni did with them",
      labelNames: ['status', 'outcome'] as const,
      registers: [metrics.registry],
    });
  }

  report(status: string, outcome: DeliveryReportOutcome): void {
    // A status AT may add later is counted, under one label (labels stay few).
    this.reports.inc({ status: KNOWN.has(status) ? status : 'other', outcome });
  }
}
