import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoansModule } from '../loans/loans.module.js';
import { WalletModule } from '../wallet/wallet.module.js';
import { SyncOperation } from './sync-operation.entity.js';
import { SyncController } from './sync.controller.js';
import { SyncService } from './sync.service.js';

/**
 * Sync for clients that work offline: the mobile sync API (push operations made offline, pull what
 * changed). The USSD offline queue applies the writes it accepted during an outage through the same
 * SyncService.applyOnce, so every channel's offline write is applied and recorded once by its id.
 */
@Module({
  imports: [TypeOrmModule.forFeature([SyncOperation]), LoansModule, WalletModule],
  controllers: [SyncController],
  providers: [SyncService],
  exports: [SyncService],
})
export class SyncModule {}
