import { getQueueToken } from '@nestjs/bullmq';
import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { JobsOptions, Queue } from 'bullmq';
import { ALL_QUEUES, JOB_QUEUE, JobName, JobPayloads, QueueName } from './queue-names.js';

/** Typed producer: the payload must match the job, and the job goes to its own queue. */
@Injectable()
export class JobsService implements OnApplicationBootstrap {
  private readonly queues = new Map<QueueName, Queue>();
  private readonly logger = new Logger(JobsService.name);

  constructor(private readonly moduleRef: ModuleRef) {}

  onApplicationBootstrap(): void {
    for (const name of ALL_QUEUES) {
      // Without a listener a Redis hiccup is printed to the console; the connection recovers by itself.
      this.queue(name).on('error', (err) => this.logger.warn(`queue ${name}: ${err.message}`));
    }
  }

  queue(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      // Resolved on first use: queue providers may not exist yet when this service is built.
      queue = this.moduleRef.get<Queue>(getQueueToken(name), { strict: false });
      if (!queue) throw new Error(`queue ${name} is not registered`);
      this.queues.set(name, queue);
    }
    return queue;
  }

  add<J extends JobName>(job: J, payload: JobPayloads[J], options?: JobsOptions) {
    return this.queue(JOB_QUEUE[job]).add(job, payload, options);
  }

  /** Depth of every queue, for /metrics and the health page. */
  async counts(): Promise<Record<QueueName, Record<string, number>>> {
    const entries = await Promise.all(
      ALL_QUEUES.map(
        async (name) =>
          [
            name,
            await this.queue(name).getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'),
          ] as const,
      ),
    );
    return Object.fromEntries(entries) as Record<QueueName, Record<string, number>>;
  }
}
