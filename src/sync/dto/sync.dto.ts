import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsISO8601,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { LOAN_STATUSES, type LoanStatus } from '../../loans/loan-state.js';
import { TRANSFER_KINDS, type TransferKind } from '../../wallet/transfer.entity.js';
import {
  SYNC_OPERATION_TYPES,
  type SyncLoan,
  type SyncOperationType,
  type SyncPull,
  type SyncResult,
  type SyncTransfer,
} from '../sync.types.js';

export class SyncOperationDto {
  @ApiProperty({
    example: '1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b',
    description: 'Made by the client; the same id is applied once',
  })
  @IsUUID()
  opId!: string;

  @ApiProperty({ enum: SYNC_OPERATION_TYPES, example: 'loan.request' })
  @IsIn(SYNC_OPERATION_TYPES)
  type!: SyncOperationType;

  @ApiProperty({
    example: { lenderPhoneNumber: '0722000000', amount: 5000, repaymentPerDeposit: 500 },
    description:
      'loan.request {lenderPhoneNumber, amount, repaymentPerDeposit}; loan.approve|decline|cancel {loanId}; loan.repay {loanId, amount}',
  })
  @IsObject()
  payload!: Record<string, unknown>;

  @ApiProperty({ example: '2026-11-22T08:15:00Z', description: 'When the user acted on the device' })
  @IsISO8601()
  clientTimestamp!: string;
}

export class SyncPushDto {
  @ApiProperty({ example: 'android-5f2c' })
  @IsString()
  @Matches(/^[A-Za-z0-9_.:-]{1,100}$/, { message: 'deviceId must be 1–100 letters, digits or _.:-' })
  deviceId!: string;

  @ApiProperty({ type: [SyncOperationDto], maxItems: 100 })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @ValidateNested({ each: true })
  @Type(() => SyncOperationDto)
  operations!: SyncOperationDto[];
}

/** A loan as a device stores it (one row per loan, upserted by id). */
export class SyncLoanView implements SyncLoan {
  @ApiProperty({ example: 'b1e7c8f2-3c1d-4d9a-9a57-0e6f1f0b2c11' })
  id!: string;

  @ApiProperty({ enum: ['borrower', 'lender'], description: "The user's side of this loan" })
  role!: 'borrower' | 'lender';

  @ApiProperty({ enum: LOAN_STATUSES, example: 'ACTIVE' })
  status!: LoanStatus;

  @ApiProperty({ example: 5000, description: 'Whole shillings' })
  principal!: number;

  @ApiProperty({ example: 4500, description: 'Whole shillings still owed' })
  outstanding!: number;

  @ApiProperty({ example: 500 })
  repaymentPerDeposit!: number;

  @ApiProperty({ example: '7d2a1c4e-0b9f-4e53-8a61-2f3c9d8e7b10' })
  borrowerId!: string;

  @ApiProperty({ example: '3f6b2e90-5c4d-4a1b-9e8f-7a6b5c4d3e2f' })
  lenderId!: string;

  @ApiProperty()
  createdAt!: Date;

  @ApiProperty()
  updatedAt!: Date;

  @ApiProperty({ nullable: true, type: Date })
  approvedAt!: Date | null;

  @ApiProperty({ nullable: true, type: Date })
  closedAt!: Date | null;

  @ApiProperty()
  expiresAt!: Date;
}

/** A ledger entry of the user's wallet. */
export class SyncTransferView implements SyncTransfer {
  @ApiProperty({ example: '9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f' })
  id!: string;

  @ApiProperty({ enum: TRANSFER_KINDS, example: 'loan_repayment' })
  kind!: TransferKind;

  @ApiProperty({ example: -500, description: 'Whole shillings: positive into the wallet, negative out of it' })
  amount!: number;

  @ApiProperty({ nullable: true, type: String, example: 'b1e7c8f2-3c1d-4d9a-9a57-0e6f1f0b2c11' })
  loanId!: string | null;

  @ApiProperty()
  createdAt!: Date;
}

export class SyncWalletView {
  @ApiProperty({ example: 4500, description: 'Wallet balance now, whole shillings' })
  balance!: number;
}

export class SyncPullResponse implements SyncPull {
  @ApiProperty({ type: [SyncLoanView], description: 'Loans (as borrower or lender) changed since the cursor' })
  loans!: SyncLoanView[];

  @ApiProperty({ type: [SyncTransferView], description: 'Wallet entries made since the cursor' })
  transfers!: SyncTransferView[];

  @ApiProperty({ type: SyncWalletView })
  wallet!: SyncWalletView;

  @ApiProperty({ example: 'eDc0MjM1', description: 'Opaque; pass it as `since` next time' })
  cursor!: string;

  @ApiProperty({ example: false, description: 'True when more changes wait: pull again at once with the new cursor' })
  hasMore!: boolean;
}

/** What a type looks like as JSON (dates as ISO strings): so that the examples below keep to the real shapes. */
type AsJson<T> = T extends Date
  ? string
  : T extends (infer E)[]
    ? AsJson<E>[]
    : T extends object
      ? { [K in keyof T]: AsJson<T[K]> }
      : T;

const EXAMPLE_LOAN = {
  id: 'b1e7c8f2-3c1d-4d9a-9a57-0e6f1f0b2c11',
  role: 'lender',
  status: 'ACTIVE',
  principal: 5000,
  outstanding: 4500,
  repaymentPerDeposit: 500,
  borrowerId: '7d2a1c4e-0b9f-4e53-8a61-2f3c9d8e7b10',
  lenderId: '3f6b2e90-5c4d-4a1b-9e8f-7a6b5c4d3e2f',
  createdAt: '2026-11-22T08:10:04.512Z',
  updatedAt: '2026-11-22T09:30:41.077Z',
  approvedAt: '2026-11-22T08:15:02.331Z',
  closedAt: null,
  expiresAt: '2026-11-25T08:10:04.512Z',
} as const satisfies AsJson<SyncLoan>;

/** A pull (Swagger example): a loan the user lent, disbursed and repaid once; the wallet's entries. */
export const SYNC_PULL_EXAMPLE = {
  loans: [EXAMPLE_LOAN],
  transfers: [
    {
      id: '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9',
      kind: 'deposit',
      amount: 10000,
      loanId: null,
      createdAt: '2026-11-22T08:01:13.900Z',
    },
    {
      id: '2a3b4c5d-6e7f-4819-9a2b-3c4d5e6f7a8b',
      kind: 'loan_disbursement',
      amount: -5000,
      loanId: EXAMPLE_LOAN.id,
      createdAt: '2026-11-22T08:15:02.331Z',
    },
    {
      id: '9c1d2e3f-4a5b-4c6d-8e7f-0a1b2c3d4e5f',
      kind: 'loan_repayment',
      amount: 500,
      loanId: EXAMPLE_LOAN.id,
      createdAt: '2026-11-22T09:30:41.077Z',
    },
  ],
  wallet: { balance: 5500 },
  cursor: 'eDc0MjM1',
  hasMore: false,
} satisfies AsJson<SyncPull>;

/**
 * A push (Swagger example): a lender's device sends four operations made offline: one applied, one
 * it had sent before (duplicate: the original result), one refused (rejected, with a code) and one
 * on a loan that moved on meanwhile (conflict: the server's state wins).
 */
export const SYNC_PUSH_EXAMPLE = {
  results: [
    // loan.approve: the loan as it now is.
    {
      opId: '1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b',
      status: 'applied',
      loan: { ...EXAMPLE_LOAN, outstanding: 5000, updatedAt: EXAMPLE_LOAN.approvedAt },
    },
    // loan.approve of another loan, sent in an earlier batch whose answer the device did not get.
    {
      opId: '6f1c7e2a-8b3d-4c9e-a0f1-2b3c4d5e6f70',
      status: 'duplicate',
      outcome: 'applied',
      loan: {
        ...EXAMPLE_LOAN,
        id: 'e4a1b2c3-d4e5-4f60-8a7b-9c0d1e2f3a4b',
        principal: 1000,
        outstanding: 1000,
        repaymentPerDeposit: 100,
        updatedAt: EXAMPLE_LOAN.approvedAt,
      },
      message: 'Already applied',
    },
    // loan.approve of a loan larger than the wallet.
    {
      opId: '0e9d8c7b-6a5f-4e3d-9c2b-1a0f9e8d7c6b',
      status: 'rejected',
      code: 'WALLET.INSUFFICIENT_FUNDS',
      message: 'Not enough money in the wallet: Ksh 1200 available, Ksh 3000 needed',
    },
    // loan.decline of a request the borrower cancelled meanwhile.
    {
      opId: '4d5e6f70-8192-4a3b-bc4d-5e6f708192a3',
      status: 'conflict',
      code: 'LOAN.NOT_PENDING',
      message: 'This request is already cancelled',
      serverState: {
        ...EXAMPLE_LOAN,
        id: 'c2f8d9e3-4d2e-4eab-8b68-1f7a2a1c3d22',
        status: 'CANCELLED',
        principal: 2000,
        outstanding: 2000,
        repaymentPerDeposit: 200,
        updatedAt: '2026-11-22T08:40:19.204Z',
        approvedAt: null,
        closedAt: '2026-11-22T08:40:19.204Z',
      },
    },
  ],
};

export class SyncOperationResult implements SyncResult {
  @ApiProperty({ example: '1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b' })
  opId!: string;

  @ApiProperty({ enum: ['applied', 'duplicate', 'rejected', 'conflict'] })
  status!: 'applied' | 'duplicate' | 'rejected' | 'conflict';

  @ApiPropertyOptional({
    enum: ['applied', 'rejected', 'conflict'],
    description: 'For a duplicate: what the first time came to',
  })
  outcome?: 'applied' | 'rejected' | 'conflict';

  @ApiPropertyOptional({
    type: SyncLoanView,
    description: 'The loan as applied (applied, and duplicate of an applied operation)',
  })
  loan?: Record<string, unknown>;

  @ApiPropertyOptional({
    example: 'WALLET.INSUFFICIENT_FUNDS',
    description:
      'Rejected or conflict: why, as a stable code (e.g. WALLET.INSUFFICIENT_FUNDS, LOAN.NOT_FOUND, SYNC.BAD_PAYLOAD; LOAN.NOT_PENDING on a conflict)',
  })
  code?: string;

  @ApiPropertyOptional({ example: 'Not enough money in the wallet: Ksh 1200 available, Ksh 3000 needed' })
  message?: string;

  @ApiPropertyOptional({
    type: SyncLoanView,
    description: "On conflict: the server's current state of the loan (the server wins)",
  })
  serverState?: Record<string, unknown>;
}

export class SyncPushResponse {
  @ApiProperty({ type: [SyncOperationResult] })
  results!: SyncOperationResult[];
}

export class SyncPullQuery {
  @ApiPropertyOptional({ description: 'The cursor of the previous pull; absent for a first pull' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  since?: string;

  @ApiPropertyOptional({ default: 100, minimum: 1, maximum: 500 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;
}
