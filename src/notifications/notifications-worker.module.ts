import { Module } from '@nestjs/common';
import { NotificationsModule } from './notifications.module.js';
import { NotificationsRelayScheduler } from './notifications-relay.scheduler.js';
import { NotificationsProcessor } from './notifications.processor.js';

/** The sending side: loaded only where APP_ROLE runs workers. */
@Module({
  imports: [NotificationsModule],
  providers: [NotificationsProcessor, NotificationsRelayScheduler],
})
export class NotificationsWorkerModule {}
