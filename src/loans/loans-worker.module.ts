import { Module } from '@nestjs/common';
import { LoansExpiryScheduler } from './loans-expiry.scheduler.js';
import { LoansModule } from './loans.module.js';
import { LoansProcessor } from './loans.processor.js';

/** Request expiry: loaded only where APP_ROLE runs workers. */
@Module({
  imports: [LoansModule],
  providers: [LoansProcessor, LoansExpiryScheduler],
})
export class LoansWorkerModule {}
