import { Module } from '@nestjs/common';
import { LoansModule } from '../loans/loans.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { MpesaModule } from '../mpesa/mpesa.module.js';
import { NotificationsModule } from '../notifications/notifications.module.js';
import { SyncModule } from '../sync/sync.module.js';
import { OnboardingModule } from '../onboarding/onboarding.module.js';
import { UsersModule } from '../users/users.module.js';
import { WalletModule } from '../wallet/wallet.module.js';
import { UssdController } from './ussd.controller.js';
import { UssdMetrics } from './ussd.metrics.js';
import { UssdService } from './ussd.service.js';
import { UssdBackendFactory } from './step/backend-factory.js';
import { UssdGate } from './step/gate.js';
import { StepRunner } from './step/runner.js';
import { UssdSessionStore } from './ussd-session.store.js';
import { UssdWebhookGuard } from './ussd-webhook.guard.js';
import { UssdSnapshotStore } from './offline/snapshot.store.js';

/**
 * The USSD channel (*383#): gateway dialects, Redis sessions, the journey engine and its menus,
 * the seed's /api/ussd/* endpoints, and offline mode for when PostgreSQL is down (snapshots here;
 * writes go on sync's offline queue, whose routes keep their /api/ussd/* paths). Sits on top of
 * loans, wallet, mpesa and sync.
 */
@Module({
  imports: [
    LoansModule,
    WalletModule,
    UsersModule,
    OnboardingModule,
    MetricsModule,
    SyncModule,
    NotificationsModule,
    MpesaModule,
  ],
  controllers: [UssdController],
  providers: [
    UssdService,
    UssdGate,
    StepRunner,
    UssdBackendFactory,
    UssdSessionStore,
    UssdMetrics,
    UssdWebhookGuard,
    UssdSnapshotStore,
  ],
  exports: [UssdService],
})
export class UssdModule {}
