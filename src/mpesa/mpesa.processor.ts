import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Job } from 'bullmq';
import type { AppConfig } from '../config/app-config.js';
import { JobsService } from '../queues/jobs.service.js';
import { JobName, QueueName } from '../queues/queue-names.js';
import { WORKER_RECOVERY } from '../queues/worker-recovery.js';
import { ReconciliationService } from './reconciliation.service.js';

@Processor(QueueName.Mpesa, { concurrency: 1, ...WORKER_RECOVERY })
export class MpesaProcessor extends WorkerHost {
  constructor(private readonly reconciliation: ReconciliationService) {
    super();
  }

  async process(job: Job): Promise<unknown> {
    switch (job.name as JobName) {
      case JobName.ReconcilePayments:
        return this.reconciliation.reconcile();
      default:
        throw new Error(`no handler for job ${job.name} on ${QueueName.Mpesa}`);
    }
  }
}

/** Reconciles lost callbacks periodically (a quarter of MPESA_RECONCILE_AFTER_MS, at least every minute); one schedule in Redis. */
@Injectable()
export class MpesaReconcileScheduler implements OnApplicationBootstrap {
  constructor(
    private readonly jobs: JobsService,
    private readonly config: ConfigService<AppConfig, true>,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const every = Math.min(
      60_000,
      Math.max(1_000, Math.floor(this.config.get('mpesa', { infer: true }).reconcileAfterMs / 4)),
    );
    await this.jobs
      .queue(QueueName.Mpesa)
      .upsertJobScheduler('mpesa-reconcile', { every }, { name: JobName.ReconcilePayments, data: {} });
  }
}
