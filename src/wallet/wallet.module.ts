import { Module } from '@nestjs/common';

/**
 * Owns the double-entry ledger: accounts, transfers, balances, deposits, withdrawals (DESIGN.md section 1).
 * Empty until its issue lands: it serves no route and claims no behaviour yet.
 */
@Module({})
export class WalletModule {}
