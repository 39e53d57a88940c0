import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Account } from './account.entity.js';
import { LedgerService } from './ledger.service.js';
import { Transfer } from './transfer.entity.js';
import { WalletService } from './wallet.service.js';

/**
 * The double-entry ledger and the wallet operations on it. Knows nothing of loans: incoming money
 * enters through the loans module's `receiveDeposit`, which allocates debts in the same transaction.
 */
@Module({
  imports: [TypeOrmModule.forFeature([Account, Transfer])],
  providers: [LedgerService, WalletService],
  exports: [LedgerService, WalletService],
})
export class WalletModule {}
