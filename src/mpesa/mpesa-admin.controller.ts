import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
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

export class ReviewPaymentDto {
  @ApiProperty({
    example: 'M-PESA statement checked: not paid. Nothing to correct.',
    description: 'What was checked and done (up to 1000 characters)',
    maxLength: 1000,
  })
  @IsString()
  @Matches(/\S/, { message: 'note must not be blank' })
  @MaxLength(1000)
  note!: string;

  @ApiProperty({ example: 'Wanjiku (finance ops)', description: 'Who checked it: the admin key is shared and names nobody (up to 64 characters)', maxLength: 64 })
  @IsString()
  @Matches(/\S/, { message: 'reviewedBy must not be blank' })
  @MaxLength(64)
  reviewedBy!: string;
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
      'needsReview marks what an operator must look at (resultDesc says why): payments for nobody (unmatched), a withdrawal given back with its outcome unknown, or one M-PESA paid after its money was given back. Once checked, POST /api/admin/mpesa/payments/{id}/reviewed clears it.',
  })
  payments(@Query() query: PaymentsQuery) {
    return this.mpesa.recent({ phoneNumber: query.phoneNumber, needsReview: query.needsReview === undefined ? undefined : query.needsReview === 'true' });
  }

  @Post('payments/:id/reviewed')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Clear needsReview on a payment an operator has checked',
    description:
      'For a payment listed by needsReview=true, once it has been checked against the M-PESA statement (and anything wrong corrected by other means: this moves no money). Records reviewedAt, reviewedBy and reviewNote; resultDesc keeps why it was flagged.',
  })
  @ApiParam({ name: 'id', description: 'The payment id', format: 'uuid' })
  @ApiOkResponse({
    description: 'The payment, no longer flagged',
    schema: {
      example: {
        id: '0b6f7c1e-4b8e-4f5a-9d3c-2a1e6f7b8c9d',
        kind: 'b2c',
        status: 'failed',
        amount: 500,
        resultDesc: 'OUTCOME UNKNOWN: no result from M-PESA after 24.0 h (480 status queries); hold released, check the M-PESA statement',
        needsReview: false,
        reviewedAt: '2026-12-01T09:30:00.000Z',
        reviewedBy: 'Wanjiku (finance ops)',
        reviewNote: 'M-PESA statement checked: not paid. Nothing to correct.',
      },
    },
  })
  @ApiBadRequestResponse({ description: 'note or reviewedBy missing, blank or too long' })
  @ApiNotFoundResponse({ description: 'MPESA.PAYMENT_NOT_FOUND: no payment with this id' })
  @ApiConflictResponse({ description: 'MPESA.REVIEW_NOT_NEEDED: the payment is not flagged (never was, or already reviewed)' })
  reviewed(@Param('id') id: string, @Body() body: ReviewPaymentDto) {
    return this.mpesa.markReviewed(id, body);
  }
}
