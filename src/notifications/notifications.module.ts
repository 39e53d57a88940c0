import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from '../config/app-config.js';
import { AdminNotificationsController } from './admin-notifications.controller.js';
import { Notification } from './notification.entity.js';
import { NotificationsService } from './notifications.service.js';
import { LogSmsProvider, SMS_PROVIDER } from './sms-provider.js';

@Module({
  imports: [TypeOrmModule.forFeature([Notification])],
  controllers: [AdminNotificationsController],
  providers: [
    NotificationsService,
    LogSmsProvider,
    {
      provide: SMS_PROVIDER,
      inject: [ConfigService, LogSmsProvider],
      useFactory: (config: ConfigService<AppConfig, true>, log: LogSmsProvider) => {
        const provider = config.get('notifications', { infer: true }).provider;
        switch (provider) {
          case 'log':
            return log;
        }
      },
    },
  ],
  exports: [NotificationsService],
})
export class NotificationsModule {}
