import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoansModule } from '../loans/loans.module.js';
import { WalletModule } from '../wallet/wallet.module.js';
import { SyncOperation } from './sync-operation.entity.js';
import { SyncController } from './sync.controller.js';
import { SyncService } from './sync.service.js';

/**
 * Sync for clients that work offline. So far: the mobile sync API (push operations made offline,
 * pull what changed). The USSD offline queue (writes accepted while PostgreSQL is down) comes next.
 */
@Module({
  imports: [TypeOrmModule.forFeature([SyncOperation]), LoansModule, WalletModule],
  controllers: [SyncController],
  providers: [SyncService],
})
export class SyncModule {}
