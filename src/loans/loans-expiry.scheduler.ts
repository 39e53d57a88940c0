import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import { JobsService } from '../queues/jobs.service.js';
import { JobName, QueueName } from '../queues/queue-names.js';

/**
 * Each request has its own delayed expiry job (kept in Redis, so it survives restarts); this
 * periodic sweep catches any request whose job was lost.
 */
@Injectable()
export class LoansExpiryScheduler implements OnApplicationBootstrap {
  constructor(
    private readonly jobs: JobsService,
    private readonly config: ConfigService<AppConfig, true>,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const every = this.config.get('loans', { infer: true }).expirySweepMs;
    await this.jobs
      .queue(QueueName.Loans)
      .upsertJobScheduler('loans-expiry-sweep', { every }, { name: JobName.ExpireDueLoans, data: {} });
  }
}
