import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import { JobName, JobPayloads, QueueName } from '../queues/queue-names.js';
import { WORKER_RECOVERY } from '../queues/worker-recovery.js';
import { LoansService } from './loans.service.js';

@Processor(QueueName.Loans, { concurrency: 4, ...WORKER_RECOVERY })
export class LoansProcessor extends WorkerHost {
  constructor(private readonly loans: LoansService) {
    super();
  }

  async process(job: Job): Promise<unknown> {
    switch (job.name as JobName) {
      case JobName.ExpireLoan:
        return this.loans.expire((job.data as JobPayloads[JobName.ExpireLoan]).loanId);
      case JobName.ExpireDueLoans:
        return this.loans.expireDue();
      default:
        throw new Error(`no handler for job ${job.name} on ${QueueName.Loans}`);
    }
  }
}
