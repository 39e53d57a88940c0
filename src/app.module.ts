import { DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from './auth/auth.module';
import type { AppConfig } from './config/app-config';
import { AppConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { LoansModule } from './loans/loans.module';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { MpesaModule } from './mpesa/mpesa.module';
import { NotificationsWorkerModule } from './notifications/notifications-worker.module';
import { NotificationsModule } from './notifications/notifications.module';
import { QueuesModule } from './queues/queues.module';
import { RedisModule } from './redis/redis.module';
import { SyncModule } from './sync/sync.module';
import { UsersModule } from './users/users.module';
import { UssdModule } from './ussd/ussd.module';
import { WalletModule } from './wallet/wallet.module';

/** Queue consumers and schedulers: loaded only where APP_ROLE is `worker` or `all`. */
const WORKER_MODULES = [NotificationsWorkerModule];

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    const runsWorkers = config.role !== 'api';
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        LoggingModule,
        DatabaseModule,
        RedisModule,
        QueuesModule,
        AuthModule,
        HealthModule,
        MetricsModule,
        UsersModule,
        NotificationsModule,
        WalletModule,
        LoansModule,
        UssdModule,
        SyncModule,
        MpesaModule,
        ...(runsWorkers ? WORKER_MODULES : []),
      ],
    };
  }
}
