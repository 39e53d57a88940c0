import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import { JobName, JobPayloads, QueueName } from '../queues/queue-names.js';
import { WORKER_RECOVERY } from '../queues/worker-recovery.js';
import { NotificationsService } from './notifications.service.js';

@Processor(QueueName.Notifications, { concurrency: 8, ...WORKER_RECOVERY })
export class NotificationsProcessor extends WorkerHost {
  constructor(private readonly notifications: NotificationsService) {
    super();
  }

  async process(job: Job): Promise<unknown> {
    switch (job.name as JobName) {
      case JobName.SendNotification: {
        const { notificationId } = job.data as JobPayloads[JobName.SendNotification];
        const finalAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        return this.notifications.send(notificationId, finalAttempt);
      }
      case JobName.RelayNotifications:
        return this.notifications.relay();
      default:
        throw new Error(`no handler for job ${job.name} on ${QueueName.Notifications}`);
    }
  }
}
