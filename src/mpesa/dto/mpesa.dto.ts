import { ApiProperty } from '@nestjs/swagger';
import { IsInt, IsPositive, Max } from 'class-validator';
import { PinDto } from '../../loans/dto/loan.dto.js';

export class TopUpDto {
  @ApiProperty({
    example: 1500,
    description: 'Whole shillings, 1 to 250,000: M-PESA asks you to confirm on your phone',
  })
  @IsInt()
  @IsPositive()
  @Max(Number.MAX_SAFE_INTEGER)
  amount!: number;
}

export class WithdrawDto extends PinDto {
  @ApiProperty({ example: 500, description: 'Whole shillings, 10 to 250,000, up to your balance' })
  @IsInt()
  @IsPositive()
  @Max(Number.MAX_SAFE_INTEGER)
  amount!: number;
}

export class PaymentView {
  @ApiProperty({ example: '0b6f7c1e-4b8e-4f5a-9d3c-2a1e6f7b8c9d' })
  id!: string;

  @ApiProperty({
    enum: ['stk', 'c2b', 'b2c'],
    example: 'stk',
    description: 'stk: a top-up prompt; c2b: paid to the paybill; b2c: a withdrawal',
  })
  kind!: string;

  @ApiProperty({ enum: ['requested', 'pending', 'succeeded', 'failed', 'unmatched'], example: 'pending' })
  status!: string;

  @ApiProperty({ example: 1500 })
  amount!: number;

  @ApiProperty({ example: 'ws_CO_191220191020363925', nullable: true })
  checkoutRequestId!: string | null;

  @ApiProperty({ example: 'NLJ7RT61SV', nullable: true, description: 'The M-PESA receipt, once paid' })
  receipt!: string | null;

  @ApiProperty({ example: null, nullable: true, description: "Daraja's result code once known (0 = paid)" })
  resultCode!: number | null;

  @ApiProperty({ example: '2026-11-22T08:15:00.000Z' })
  createdAt!: Date;
}
