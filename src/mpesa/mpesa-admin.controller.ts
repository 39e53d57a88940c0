import { Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { AdminOnly } from '../auth/admin-api-key.guard.js';
import { MpesaService } from './mpesa.service.js';

export class PaymentsQuery {
  @ApiPropertyOptional({ example: '254712345678', description: 'Only this user (by phone number)' })
  @IsOptional()
  @IsString()
  @MaxLength(20)
  phoneNumber?: string;

  @ApiPropertyOptional({ enum: ['true', 'false'], description: 'Only payments flagged for an operator (true), or only those not flagged (false)' })
  @IsOptional()
  @IsIn(['true', 'false'])
  needsReview?: 'true' | 'false';
}

/** Operators' M-PESA routes (admin key). */
@ApiTags('admin')
@AdminOnly()
@Controller('api/admin/mpesa')
export class MpesaAdminController {
  constructor(private readonly mpesa: MpesaService) {}

  @Post('c2b/register')
  @HttpCode(200)
  @ApiOperation({ summary: "Register Deni's C2B validation and confirmation URLs with Daraja (once per paybill)" })
  @ApiOkResponse({ schema: { example: { originatorConversationId: '7619-37765134-1', responseCode: '0', responseDescription: 'success' } } })
  register() {
    return this.mpesa.registerC2bUrls();
  }

  @Post('reconcile')
  @HttpCode(200)
  @ApiOperation({ summary: 'Run the reconciliation of lost callbacks now (the worker also runs it on a schedule)' })
  @ApiOkResponse({ schema: { example: { queried: 2, settled: 1 } } })
  reconcile() {
    return this.mpesa.reconcile();
  }

  @Get('payments')
  @ApiOperation({
    summary: 'Recent M-PESA payments (top-ups, paybill, withdrawals), newest first',
    description:
      'needsReview marks what an operator must look at (resultDesc says why): payments for nobody (unmatched), a withdrawal given back with its outcome unknown, or one M-PESA paid after its money was given back.',
  })
  payments(@Query() query: PaymentsQuery) {
    return this.mpesa.recent({ phoneNumber: query.phoneNumber, needsReview: query.needsReview === undefined ? undefined : query.needsReview === 'true' });
  }
}
