import { DynamicModule, Module } from '@nestjs/common';
import { AuthModule } from './auth/auth.module.js';
import type { AppConfig } from './config/app-config.js';
import { AppConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { HealthModule } from './health/health.module.js';
import { LoansWorkerModule } from './loans/loans-worker.module.js';
import { LoansModule } from './loans/loans.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { MpesaModule } from './mpesa/mpesa.module.js';
import { MpesaWorkerModule } from './mpesa/mpesa-worker.module.js';
import { NotificationsWorkerModule } from './notifications/notifications-worker.module.js';
import { NotificationsModule } from './notifications/notifications.module.js';
import { QueuesModule } from './queues/queues.module.js';
import { RedisModule } from './redis/redis.module.js';
import { SimulatorModule } from './simulator/simulator.module.js';
import { SyncModule } from './sync/sync.module.js';
import { SyncWorkerModule } from './sync/sync-worker.module.js';
import { UsersModule } from './users/users.module.js';
import { UssdModule } from './ussd/ussd.module.js';
import { WalletModule } from './wallet/wallet.module.js';

/** Queue consumers and schedulers: loaded only where APP_ROLE is `worker` or `all`. */
const WORKER_MODULES = [NotificationsWorkerModule, LoansWorkerModule, SyncWorkerModule, MpesaWorkerModule];

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    const runsWorkers = config.role !== 'api';
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
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
        // The phone simulator's routes (/simulator/api): a development tool, see SIMULATOR_ENABLED.
        ...(config.simulator.enabled && config.role !== 'worker' ? [SimulatorModule] : []),
      ],
    };
  }
}
