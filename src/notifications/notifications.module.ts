import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { AppConfig } from '../config/app-config.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { AdminNotificationsController } from './admin-notifications.controller.js';
import { Notification } from './notification.entity.js';
import { AfricasTalkingSmsProvider } from './africastalking-sms.provider.js';
import { NotificationsService } from './notifications.service.js';
import { OutboxRepository } from './outbox.repository.js';
import { SmsDeliveryMetrics } from './sms-delivery.metrics.js';
import { SmsDeliveryReportsController } from './sms-delivery-reports.controller.js';
import { LogSmsProvider, SMS_PROVIDER, type SmsProvider } from './sms-provider.js';

@Module({
  imports: [TypeOrmModule.forFeature([Notification]), MetricsModule],
  controllers: [AdminNotificationsController, SmsDeliveryReportsController],
  providers: [
    NotificationsService,
    OutboxRepository,
    SmsDeliveryMetrics,
    LogSmsProvider,
    {
      provide: SMS_PROVIDER,
      inject: [ConfigService, LogSmsProvider],
      // Chosen by SMS_PROVIDER; the schema guarantees AT_USERNAME and AT_API_KEY for africastalking.
      useFactory: (config: ConfigService<AppConfig, true>, log: LogSmsProvider): SmsProvider => {
        const sms = config.get('sms', { infer: true });
        switch (sms.provider) {
          case 'log':
            return log;
          case 'africastalking':
            return new AfricasTalkingSmsProvider(sms.africasTalking);
        }
      },
    },
  ],
  exports: [NotificationsService],
})
export class NotificationsModule {}
