import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsPositive, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { LOAN_STATUSES, type LoanStatus } from '../loan-state.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export class PinDto {
  @ApiProperty({ example: '4821' })
  @IsString()
  @Matches(/^\d{4}$/, { message: 'pin must be 4 digits' })
  pin!: string;
}

export class RequestLoanDto extends PinDto {
  @ApiProperty({ example: '0722000000', description: 'The lender (registered on the spot if new)' })
  @IsString()
  @MaxLength(20)
  lenderPhoneNumber!: string;

  @ApiProperty({ example: 5000, description: 'Whole shillings, 100 to LOAN_MAX_AMOUNT (default 250,000)' })
  @IsInt()
  @IsPositive()
  @Max(MAX_SAFE)
  amount!: number;

  @ApiProperty({ example: 500, description: 'Deducted from each later deposit; 10 ≤ r ≤ amount' })
  @IsInt()
  @IsPositive()
  @Max(MAX_SAFE)
  repaymentPerDeposit!: number;
}

export class RepayDto extends PinDto {
  @ApiProperty({ example: 1000, description: 'Whole shillings, up to min(outstanding, wallet balance)' })
  @IsInt()
  @IsPositive()
  @Max(MAX_SAFE)
  amount!: number;
}

export class ListLoansQuery {
  @ApiPropertyOptional({ enum: ['borrower', 'lender', 'any'], default: 'any' })
  @IsOptional()
  @IsIn(['borrower', 'lender', 'any'])
  role?: 'borrower' | 'lender' | 'any';

  @ApiPropertyOptional({ enum: LOAN_STATUSES })
  @IsOptional()
  @IsIn(LOAN_STATUSES)
  status?: LoanStatus;

  @ApiPropertyOptional({ default: 20, minimum: 1, maximum: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({ default: 0, minimum: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  offset?: number;
}

export class RepaymentView {
  @ApiProperty({ example: '7d0b5f3e-…' })
  id!: string;

  @ApiProperty({ example: 500 })
  amount!: number;

  @ApiProperty()
  createdAt!: Date;
}

export class LoanView {
  @ApiProperty({ example: 'b1e7c8f2-3c1d-4d9a-9a57-0e6f1f0b2c11' })
  id!: string;

  @ApiProperty({ enum: LOAN_STATUSES, example: 'ACTIVE' })
  status!: LoanStatus;

  @ApiProperty({ enum: ['borrower', 'lender'], description: 'Your side of this loan' })
  role!: 'borrower' | 'lender';

  @ApiProperty({ example: 5000 })
  principal!: number;

  @ApiProperty({ example: 4500 })
  outstanding!: number;

  @ApiProperty({ example: 500 })
  repaymentPerDeposit!: number;

  @ApiProperty({ example: '254712345678' })
  borrowerPhoneNumber!: string;

  @ApiProperty({ example: '254722000000' })
  lenderPhoneNumber!: string;

  @ApiProperty()
  createdAt!: Date;

  @ApiProperty()
  expiresAt!: Date;

  @ApiProperty({ nullable: true, type: Date })
  approvedAt!: Date | null;

  @ApiProperty({ nullable: true, type: Date })
  closedAt!: Date | null;

  @ApiPropertyOptional({ type: [RepaymentView] })
  repayments?: RepaymentView[];
}

export class LoanPage {
  @ApiProperty({ type: [LoanView] })
  items!: LoanView[];

  @ApiProperty({ example: 3 })
  total!: number;
}

export class WalletView {
  @ApiProperty({ example: 1500, description: 'Wallet balance, whole shillings' })
  balance!: number;

  @ApiProperty({ example: 2000, description: 'What others owe you on active loans' })
  owed!: number;

  @ApiProperty({ example: 4500, description: 'What you owe on active loans' })
  owing!: number;

  @ApiProperty({ example: 'KES' })
  currency!: 'KES';

  @ApiProperty({ example: 1 })
  activeAsBorrower!: number;

  @ApiProperty({ example: 1 })
  activeAsLender!: number;

  @ApiProperty({ example: 0 })
  pendingApprovals!: number;
}

export class WalletEntryView {
  @ApiProperty()
  id!: string;

  @ApiProperty({ example: 'loan_repayment' })
  kind!: string;

  @ApiProperty({ example: -500, description: 'Positive in, negative out' })
  amount!: number;

  @ApiProperty({ nullable: true, type: String })
  loanId!: string | null;

  @ApiProperty({ nullable: true, type: String, example: '254722000000' })
  counterpartyPhoneNumber!: string | null;

  @ApiProperty()
  createdAt!: Date;
}

export class WalletHistoryQuery {
  @ApiPropertyOptional({ default: 10, minimum: 1, maximum: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(50)
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  before?: string;
}

export class WalletHistoryPage {
  @ApiProperty({ type: [WalletEntryView] })
  items!: WalletEntryView[];

  @ApiProperty({ nullable: true, type: String })
  nextCursor!: string | null;
}

export class AdminDepositDto {
  @ApiProperty({ example: '0712345678' })
  @IsString()
  @MaxLength(20)
  phoneNumber!: string;

  @ApiProperty({ example: 1000 })
  @IsInt()
  @IsPositive()
  @Max(MAX_SAFE)
  amount!: number;

  @ApiProperty({
    example: 'SIM1234567',
    description: 'Unique, like an M-PESA receipt: the same reference never credits twice',
  })
  @IsString()
  @Matches(/^[A-Za-z0-9_.:-]{1,100}$/, { message: 'reference must be 1–100 letters, digits or _.:-' })
  reference!: string;
}

export class DepositResultView {
  @ApiProperty()
  transferId!: string;

  @ApiProperty({ example: 1000 })
  amount!: number;

  @ApiProperty({ example: 500, description: 'Allocated to active loans' })
  deducted!: number;

  @ApiProperty({ example: 500 })
  balance!: number;

  @ApiProperty({ example: [{ loanId: 'b1e7c8f2-…', amount: 500 }] })
  allocations!: { loanId: string; amount: number }[];

  @ApiProperty({ description: 'True when this reference was already credited: nothing moved this time' })
  replayed!: boolean;
}
