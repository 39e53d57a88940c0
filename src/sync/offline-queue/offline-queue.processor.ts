import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger } from '@nestjs/common';
import { DelayedError, type Job } from 'bullmq';
import { JobName, type JobPayloads, QueueName } from '../../queues/queue-names.js';
import { WORKER_RECOVERY } from '../../queues/worker-recovery.js';
import { OfflineItemNotReady, OfflineQueueService } from './offline-queue.service.js';

type Payload = JobPayloads[JobName.ApplyOfflineItem];

/**
 * Exponential backoff with a ceiling, and jitter so that items queued together during an outage
 * do not all come back at the same instant: first delay, doubling, never above the maximum.
 */
export function offlineBackoff(attemptsMade: number, job?: { data?: Partial<Payload> }): number {
  const first = job?.data?.firstDelayMs ?? 5_000;
  const max = job?.data?.maxDelayMs ?? 1_800_000;
  const delay = Math.min(max, first * 2 ** Math.min(Math.max(attemptsMade - 1, 0), 30));
  return Math.round(delay * (0.8 + Math.random() * 0.4));
}

/** How soon an item found being applied by another process is looked at again (plus jitter). */
const BUSY_RETRY_MS = 1_000;

/** Applies the USSD offline queue's items; rules live in OfflineQueueService. */
@Processor(QueueName.UssdOffline, {
  // One at a time, so one phone's items are applied in the order they were queued.
  concurrency: 1,
  ...WORKER_RECOVERY,
  settings: {
    backoffStrategy: (attemptsMade, _type, _err, job) => offlineBackoff(attemptsMade, job as { data?: Payload }),
  },
})
export class OfflineQueueProcessor extends WorkerHost {
  private readonly logger = new Logger(OfflineQueueProcessor.name);

  constructor(private readonly offline: OfflineQueueService) {
    super();
  }

  async process(job: Job<Payload>, token?: string): Promise<unknown> {
    if (job.name !== (JobName.ApplyOfflineItem as string))
      throw new Error(`no handler for job ${job.name} on ${QueueName.UssdOffline}`);
    try {
      const state = await this.offline.applyInOrder(job.data.id);
      return { status: state?.status ?? 'missing' };
    } catch (err) {
      if (err instanceof OfflineItemNotReady && err.busy) {
        // Another process has this item (or an earlier one of the phone): looked at again in a
        // moment, without counting an attempt, so a later outage's backoff starts from its first.
        await job.moveToDelayed(Date.now() + BUSY_RETRY_MS + Math.round(Math.random() * BUSY_RETRY_MS), token);
        throw new DelayedError();
      }
      // Not applied yet (the database is away, or another process has it): BullMQ tries again
      // after the backoff; past OFFLINE_RETRY_HOURS the next attempt closes it as expired.
      this.logger.debug({ id: job.data.id, attempt: job.attemptsMade + 1, err }, 'offline item not applied yet');
      throw err;
    }
  }
}
