import { Module } from '@nestjs/common';
import { NotificationsModule } from './notifications.module';
import { NotificationsRelayScheduler } from './notifications-relay.scheduler';
import { NotificationsProcessor } from './notifications.processor';

/** The sending side: loaded only where APP_ROLE runs workers. */
@Module({
  imports: [NotificationsModule],
  providers: [NotificationsProcessor, NotificationsRelayScheduler],
})
export class NotificationsWorkerModule {}
