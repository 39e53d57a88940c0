import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service.js';
import { UssdSessionStore } from './ussd-session.store.js';

/** USSD metrics on the process registry: steps by screen and outcome, latency, active sessions. */
@Injectable()
export class UssdMetrics {
  private readonly steps: Counter<'screen' | 'outcome'>;
  private readonly latency: Histogram;
  private readonly offlineSteps: Counter;

  constructor(metrics: MetricsService, sessions: UssdSessionStore) {
    this.steps = new Counter({
      name: 'deni_ussd_steps_total',
      help: 'USSD requests by the screen they ended on and their outcome',
      labelNames: ['screen', 'outcome'] as const,
      registers: [metrics.registry],
    });
    this.latency = new Histogram({
      name: 'deni_ussd_handler_seconds',
      help: 'Time to answer one USSD request',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers: [metrics.registry],
    });
    this.offlineSteps = new Counter({
      name: 'deni_ussd_offline_steps_total',
      help: 'USSD requests answered from Redis because PostgreSQL was unavailable',
      registers: [metrics.registry],
    });
    new Gauge({
      name: 'deni_ussd_active_sessions',
      help: 'USSD sessions active in Redis',
      registers: [metrics.registry],
      async collect() {
        this.set(await sessions.countActive().catch(() => 0));
      },
    });
  }

  step(screen: string, outcome: 'continue' | 'end' | 'error' | 'refused'): void {
    this.steps.inc({ screen, outcome });
  }

  offline(): void {
    this.offlineSteps.inc();
  }

  observe(seconds: number): void {
    this.latency.observe(seconds);
  }
}
