import { Injectable, Logger } from '@nestjs/common';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { DatabaseAvailability } from '../database/database-availability.js';
import { JobsService } from '../queues/jobs.service.js';

/** Prometheus metrics of this process. Each application instance has its own registry. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly logger = new Logger(MetricsService.name);

  private readonly httpDuration = new Histogram({
    name: 'deni_http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  constructor(jobs: JobsService, database: DatabaseAvailability) {
    collectDefaultMetrics({ register: this.registry, prefix: 'deni_' });
    new Gauge({
      name: 'deni_database_available',
      help: 'Whether PostgreSQL is available: 1 while the database circuit is closed, 0 while it is open',
      registers: [this.registry],
      collect() {
        this.set(database.isOpen() ? 0 : 1);
      },
    });
    const logger = this.logger;
    new Gauge({
      name: 'deni_queue_jobs',
      help: 'Jobs per queue and state, read from Redis at scrape time',
      labelNames: ['queue', 'state'] as const,
      registers: [this.registry],
      async collect() {
        try {
          const counts = await jobs.counts();
          this.reset();
          for (const [queue, states] of Object.entries(counts)) {
            for (const [state, n] of Object.entries(states)) this.set({ queue, state }, n);
          }
        } catch (err) {
          // A scrape during a Redis outage still answers, with the process metrics.
          logger.warn({ err }, 'queue depths unavailable');
        }
      },
    });
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpDuration.observe({ method, route, status: String(status) }, seconds);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
