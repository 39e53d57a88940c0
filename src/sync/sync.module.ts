import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoansModule } from '../loans/loans.module.js';
import { MpesaModule } from '../mpesa/mpesa.module.js';
import { NotificationsModule } from '../notifications/notifications.module.js';
import { WalletModule } from '../wallet/wallet.module.js';
import { OfflineQueueController } from './offline-queue/offline-queue.controller.js';
import { OfflineQueueService } from './offline-queue/offline-queue.service.js';
import { SyncOperation } from './sync-operation.entity.js';
import { SyncController } from './sync.controller.js';
import { SyncService } from './sync.service.js';

/**
 * Sync for clients that work offline: the mobile sync API (push operations made offline, pull what
 * changed) and the offline write queue (writes USSD accepted while PostgreSQL was down, with the
 * seed's operator routes GET /api/ussd/queue/:phoneNumber and POST /api/ussd/sync). The queue
 * applies its writes through the same SyncService.applyOnce, so every channel's offline write is
 * applied and recorded once by its id. USSD's offline backend queues through the exported
 * OfflineQueueService; its worker is SyncWorkerModule.
 */
@Module({
  imports: [TypeOrmModule.forFeature([SyncOperation]), LoansModule, WalletModule, NotificationsModule, MpesaModule],
  controllers: [SyncController, OfflineQueueController],
  providers: [SyncService, OfflineQueueService],
  exports: [SyncService, OfflineQueueService],
})
export class SyncModule {}
