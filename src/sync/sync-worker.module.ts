import { Module } from '@nestjs/common';
import { OfflineQueueProcessor } from './offline-queue/offline-queue.processor.js';
import { SyncModule } from './sync.module.js';

/** The offline queue's worker: loaded only where APP_ROLE runs workers. */
@Module({
  imports: [SyncModule],
  providers: [OfflineQueueProcessor],
})
export class SyncWorkerModule {}
