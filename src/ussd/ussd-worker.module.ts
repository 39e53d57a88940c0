import { Module } from '@nestjs/common';
import { OfflineQueueProcessor } from './offline/offline-queue.processor.js';
import { UssdModule } from './ussd.module.js';

/** The offline queue's worker: loaded only where APP_ROLE runs workers. */
@Module({
  imports: [UssdModule],
  providers: [OfflineQueueProcessor],
})
export class UssdWorkerModule {}
