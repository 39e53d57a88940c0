import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import { DarajaClient } from './daraja.client.js';
import { DARAJA_OPTIONS, darajaClientOptions } from './daraja.options.js';
import { LoansModule } from '../loans/loans.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { NotificationsModule } from '../notifications/notifications.module.js';
import { UsersModule } from '../users/users.module.js';
import { WalletModule } from '../wallet/wallet.module.js';
import { MpesaAdminController } from './mpesa-admin.controller.js';
import { MpesaCallbacksController } from './mpesa-callbacks.controller.js';
import { MpesaWalletController } from './mpesa-wallet.controller.js';
import { MpesaPayment } from './mpesa-payment.entity.js';
import { MpesaMetrics } from './mpesa.metrics.js';
import { ReconciliationService } from './reconciliation.service.js';
import { MpesaPaymentsRepository } from './mpesa-payments.repository.js';
import { PaymentReviewService } from './payment-review.service.js';
import { CallbackMismatches } from './callback-mismatches.service.js';
import { MpesaCallbackUrls } from './mpesa-callback-urls.js';
import { TopUpService } from './top-up.service.js';
import { PaybillService } from './paybill.service.js';
import { WithdrawalService } from './withdrawal.service.js';
import { WithdrawalStatusService } from './withdrawal-status.service.js';

/**
 * M-PESA (docs/mpesa.md): the Daraja client (Safaricom's Daraja, or a simulator in its own
 * process outside production: docs/simulator.md); top-ups (STK push), paybill payments (C2B) and withdrawals (B2C) with
 * their callbacks, the payments table, and reconciliation (MpesaWorkerModule). Sits on loans and
 * wallet: money arrives through LoansService.receiveDeposit, leaves through the wallet's holds.
 * DARAJA_OPTIONS is exported so an application (or a test) can override what the client uses.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([MpesaPayment]),
    LoansModule,
    WalletModule,
    UsersModule,
    NotificationsModule,
    MetricsModule,
  ],
  controllers: [MpesaCallbacksController, MpesaWalletController, MpesaAdminController],
  providers: [
    ReconciliationService,
    MpesaPaymentsRepository,
    PaymentReviewService,
    TopUpService,
    PaybillService,
    WithdrawalService,
    WithdrawalStatusService,
    CallbackMismatches,
    MpesaCallbackUrls,
    MpesaMetrics,
    {
      provide: DARAJA_OPTIONS,
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) => darajaClientOptions(config.get('mpesa', { infer: true })),
    },
    DarajaClient,
  ],
  exports: [ReconciliationService, TopUpService, WithdrawalService, MpesaCallbackUrls, DarajaClient, DARAJA_OPTIONS],
})
export class MpesaModule {}
