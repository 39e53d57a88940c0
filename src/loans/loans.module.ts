import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { NotificationsModule } from '../notifications/notifications.module.js';
import { OnboardingModule } from '../onboarding/onboarding.module.js';
import { UsersModule } from '../users/users.module.js';
import { WalletModule } from '../wallet/wallet.module.js';
import { AdminDepositsController } from './admin-deposits.controller.js';
import { Loan } from './loan.entity.js';
import { LoansController } from './loans.controller.js';
import { WalletController } from './wallet.controller.js';
import { LoanDecisionsService } from './loan-decisions.service.js';
import { LoanParties } from './loan-parties.js';
import { LoanQueriesService } from './loan-queries.service.js';
import { LoanRequestsService } from './loan-requests.service.js';
import { LoansService } from './loans.service.js';
import { PeopleService } from './people.service.js';
import { RepaymentsService } from './repayments.service.js';

/**
 * Loan lifecycle, approval and disbursement, debt allocation, repayments, expiry, and the one
 * entry point for incoming money (`receiveDeposit`). Above the ledger; below USSD, sync and M-PESA,
 * which use LoansService only: it hands each call to the service of its part of the lifecycle.
 */
@Module({
  imports: [TypeOrmModule.forFeature([Loan]), UsersModule, WalletModule, OnboardingModule, NotificationsModule],
  controllers: [LoansController, WalletController, AdminDepositsController],
  providers: [
    LoansService,
    LoanRequestsService,
    LoanDecisionsService,
    RepaymentsService,
    LoanQueriesService,
    LoanParties,
    PeopleService,
  ],
  exports: [LoansService, PeopleService],
})
export class LoansModule {}
