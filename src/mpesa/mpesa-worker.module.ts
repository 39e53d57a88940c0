import { Module } from '@nestjs/common';
import { MpesaModule } from './mpesa.module.js';
import { MpesaProcessor, MpesaReconcileScheduler } from './mpesa.processor.js';

/** Reconciliation of lost M-PESA callbacks: loaded only where APP_ROLE runs workers. */
@Module({
  imports: [MpesaModule],
  providers: [MpesaProcessor, MpesaReconcileScheduler],
})
export class MpesaWorkerModule {}
