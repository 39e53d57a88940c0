import { Module } from '@nestjs/common';

/**
 * Owns loan lifecycle, approval and disbursement, debt allocation, repayments, expiry (DESIGN.md section 1).
 * Empty until its issue lands: it serves no route and claims no behaviour yet.
 */
@Module({})
export class LoansModule {}
