import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import { JobsService } from '../queues/jobs.service.js';
import { JobName, QueueName } from '../queues/queue-names.js';

/** Runs the outbox relay periodically; one schedule in Redis whatever the number of workers. */
@Injectable()
export class NotificationsRelayScheduler implements OnApplicationBootstrap {
  constructor(
    private readonly jobs: JobsService,
    private readonly config: ConfigService<AppConfig, true>,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const every = this.config.get('notifications', { infer: true }).relayIntervalMs;
    await this.jobs
      .queue(QueueName.Notifications)
      .upsertJobScheduler('notifications-relay', { every }, { name: JobName.RelayNotifications, data: {} });
  }
}
