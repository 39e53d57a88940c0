import { Module } from '@nestjs/common';
import { LoansModule } from '../loans/loans.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { UsersModule } from '../users/users.module.js';
import { WalletModule } from '../wallet/wallet.module.js';
import { UssdController } from './ussd.controller.js';
import { UssdMetrics } from './ussd.metrics.js';
import { UssdService } from './ussd.service.js';
import { UssdSessionStore } from './ussd-session.store.js';
import { UssdWebhookGuard } from './ussd-webhook.guard.js';

/**
 * The USSD channel (*383#): gateway dialects, Redis sessions, the journey engine and its menus,
 * and the seed's /api/ussd/* endpoints. Sits on top of loans and wallet.
 */
@Module({
  imports: [LoansModule, WalletModule, UsersModule, MetricsModule],
  controllers: [UssdController],
  providers: [UssdService, UssdSessionStore, UssdMetrics, UssdWebhookGuard],
  exports: [UssdService],
})
export class UssdModule {}
