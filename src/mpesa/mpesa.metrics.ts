import { Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service.js';
import type { MismatchKind } from './mpesa-payment.entity.js';

/** M-PESA metrics on the process registry. */
@Injectable()
export class MpesaMetrics {
  private readonly mismatches: Counter<'kind'>;

  constructor(metrics: MetricsService) {
    this.mismatches = new Counter({
      name: 'deni_mpesa_callback_mismatch_total',
      help: 'M-PESA callbacks flagged for an operator, by why (amount, phone, shortcode, receipt, outcome, not_confirmed)',
      labelNames: ['kind'] as const,
      registers: [metrics.registry],
    });
  }

  callbackMismatch(kinds: readonly MismatchKind[]): void {
    for (const kind of kinds) this.mismatches.inc({ kind });
  }
}
