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

export const SYNC_OPERATION_TYPES = ['loan.request', 'loan.approve', 'loan.decline', 'loan.cancel', 'loan.repay'] as const;
export type SyncOperationType = (typeof SYNC_OPERATION_TYPES)[number];

export class SyncOperationDto {
  @ApiProperty({ example: '1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b', description: 'Made by the client; the same id is applied once' })
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

export class SyncOperationResult {
  @ApiProperty()
  opId!: string;

  @ApiProperty({ enum: ['applied', 'duplicate', 'rejected', 'conflict'] })
  status!: 'applied' | 'duplicate' | 'rejected' | 'conflict';

  @ApiPropertyOptional({ enum: ['applied', 'rejected', 'conflict'], description: 'For a duplicate: what the first time came to' })
  outcome?: 'applied' | 'rejected' | 'conflict';

  @ApiPropertyOptional({ description: 'The loan as applied (applied, and duplicate of an applied operation)' })
  loan?: Record<string, unknown>;

  @ApiPropertyOptional({ example: 'WALLET.INSUFFICIENT_FUNDS' })
  code?: string;

  @ApiPropertyOptional()
  message?: string;

  @ApiPropertyOptional({ description: "On conflict: the server's current state of the loan (the server wins)" })
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
