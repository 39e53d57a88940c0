import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength, ValidateIf } from 'class-validator';
import { AdminOnly } from '../auth/admin-api-key.guard.js';
import { ReconciliationService } from './reconciliation.service.js';
import { PaymentReviewService } from './payment-review.service.js';
import { PaybillService } from './paybill.service.js';

export class PaymentsQuery {
  @ApiPropertyOptional({ example: '254712345678', description: 'Only this user (by phone number)' })
  @IsOptional()
  @IsString()
  @MaxLength(20)
  phoneNumber?: string;

  @ApiPropertyOptional({
    enum: ['true', 'false'],
    description: 'Only payments flagged for an operator (true), or only those not flagged (false)',
  })
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

  @ApiProperty({
    example: 'Wanjiku (finance ops)',
    description: 'Who checked it: the admin key is shared and names nobody (up to 64 characters)',
    maxLength: 64,
  })
  @IsString()
  @Matches(/\S/, { message: 'reviewedBy must not be blank' })
  @MaxLength(64)
  reviewedBy!: string;
}

export class ResolveWithdrawalDto extends ReviewPaymentDto {
  @ApiProperty({
    enum: ['paid', 'not_paid'],
    example: 'paid',
    description:
      'What the M-PESA statement shows: paid settles the held money (it has left Deni), not_paid gives it back to the wallet',
  })
  @IsIn(['paid', 'not_paid'])
  outcome!: 'paid' | 'not_paid';

  @ApiPropertyOptional({
    example: 'TK8PLW3ZQA',
    description:
      'The M-PESA receipt of the payment, from the statement: required when outcome is paid, refused when not_paid (6 to 32 letters and digits)',
  })
  @ValidateIf((o: ResolveWithdrawalDto) => o.outcome === 'paid' || o.receipt !== undefined)
  @IsString()
  @Matches(/^[A-Za-z0-9]{6,32}$/, { message: 'receipt must be the M-PESA receipt: 6 to 32 letters and digits' })
  receipt?: string;
}

/** Operators' M-PESA routes (admin key). */
@ApiTags('admin')
@AdminOnly()
@Controller('api/admin/mpesa')
export class MpesaAdminController {
  constructor(
    private readonly reconciliation: ReconciliationService,
    private readonly review: PaymentReviewService,
    private readonly paybill: PaybillService,
  ) {}

  @Post('c2b/register')
  @HttpCode(200)
  @ApiOperation({ summary: "Register Deni's C2B validation and confirmation URLs with Daraja (once per paybill)" })
  @ApiOkResponse({
    schema: {
      example: { originatorConversationId: '7619-37765134-1', responseCode: '0', responseDescription: 'success' },
    },
  })
  register() {
    return this.paybill.registerC2bUrls();
  }

  @Post('reconcile')
  @HttpCode(200)
  @ApiOperation({ summary: 'Run the reconciliation of lost callbacks now (the worker also runs it on a schedule)' })
  @ApiOkResponse({ schema: { example: { queried: 2, settled: 1 } } })
  reconcile() {
    return this.reconciliation.reconcile();
  }

  @Get('payments')
  @ApiOperation({
    summary: 'Recent M-PESA payments (top-ups, paybill, withdrawals), newest first',
    description:
      'needsReview marks what an operator must look at (resultDesc says why): payments for nobody (unmatched), a withdrawal whose outcome is unknown (its money held, or given back under MPESA_RECONCILE_LAST_RESORT=release), or one M-PESA paid after its money was given back. Once checked, POST /api/admin/mpesa/payments/{id}/reviewed clears it; a withdrawal still pending with its money held is ended by POST /api/admin/mpesa/payments/{id}/resolve.',
  })
  payments(@Query() query: PaymentsQuery) {
    return this.review.recent({
      phoneNumber: query.phoneNumber,
      needsReview: query.needsReview === undefined ? undefined : query.needsReview === 'true',
    });
  }

  @Post('payments/:id/reviewed')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Clear needsReview on a payment an operator has checked',
    description:
      'For a payment listed by needsReview=true, once it has been checked against the M-PESA statement (and anything wrong corrected by other means: this moves no money). Records reviewedAt, reviewedBy and reviewNote; resultDesc keeps why it was flagged. ' +
      'Not for a withdrawal still pending with its money held (it would be hidden with the money still held): that one is ended by POST /api/admin/mpesa/payments/{id}/resolve.',
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
        resultDesc:
          'OUTCOME UNKNOWN: no result from M-PESA after 24.0 h (480 status queries); hold released, check the M-PESA statement',
        needsReview: false,
        reviewedAt: '2026-12-01T09:30:00.000Z',
        reviewedBy: 'Wanjiku (finance ops)',
        reviewNote: 'M-PESA statement checked: not paid. Nothing to correct.',
      },
    },
  })
  @ApiBadRequestResponse({ description: 'note or reviewedBy missing, blank or too long' })
  @ApiNotFoundResponse({ description: 'MPESA.PAYMENT_NOT_FOUND: no payment with this id' })
  @ApiConflictResponse({
    description:
      'MPESA.REVIEW_NOT_NEEDED: the payment is not flagged (never was, or already reviewed); MPESA.WITHDRAWAL_STILL_HELD: a withdrawal still pending with its money held, to be ended by /resolve',
  })
  reviewed(@Param('id') id: string, @Body() body: ReviewPaymentDto) {
    return this.review.markReviewed(id, body);
  }

  @Post('payments/:id/resolve')
  @HttpCode(200)
  @ApiOperation({
    summary: 'End a withdrawal still pending with its money held, from the M-PESA statement',
    description:
      'For a B2C withdrawal M-PESA has given no outcome for, its money still held, once reconciliation has flagged it (needsReview=true: Daraja unreachable, or a Transaction Status answer that could not be matched to it). ' +
      'paid settles the hold (the money has left Deni; receipt required), not_paid gives it back to the wallet; the user gets the matching SMS. ' +
      "Records resolvedAt, resolvedBy and resolution, and reviewedAt, reviewedBy and reviewNote, and clears needsReview; resultDesc starts with RESOLVED BY OPERATOR (for people: the resolution columns are what count). Once: the money moves through the same ledger outcome M-PESA's answers use, so a second resolution, or one racing M-PESA's answer, is MPESA.NOT_RESOLVABLE. " +
      'An answer from M-PESA arriving afterwards never moves money: if it contradicts the resolution, the payment is flagged needsReview again (resultDesc says CONTRADICTED BY M-PESA, or PAID AFTER RELEASE).',
  })
  @ApiParam({ name: 'id', description: 'The withdrawal (payment) id', format: 'uuid' })
  @ApiBody({
    type: ResolveWithdrawalDto,
    examples: {
      paid: {
        summary: 'The statement shows the payment',
        value: {
          outcome: 'paid',
          receipt: 'TK8PLW3ZQA',
          reviewedBy: 'Wanjiku (finance ops)',
          note: 'M-PESA statement 2026-12-01: Ksh 500 paid to 254712345678, receipt TK8PLW3ZQA.',
        },
      },
      not_paid: {
        summary: 'The statement shows no payment',
        value: {
          outcome: 'not_paid',
          reviewedBy: 'Wanjiku (finance ops)',
          note: 'M-PESA statement 2026-12-01 to 2026-12-02: no payment to 254712345678 for Ksh 500.',
        },
      },
    },
  })
  @ApiOkResponse({
    description: 'The payment, ended: succeeded (paid) or failed (not_paid), no longer flagged',
    schema: {
      example: {
        id: '0b6f7c1e-4b8e-4f5a-9d3c-2a1e6f7b8c9d',
        kind: 'b2c',
        status: 'succeeded',
        amount: 500,
        receipt: 'TK8PLW3ZQA',
        resultCode: null,
        resultDesc: 'RESOLVED BY OPERATOR as paid (receipt TK8PLW3ZQA): hold settled',
        needsReview: false,
        reviewedAt: '2026-12-01T09:30:00.000Z',
        reviewedBy: 'Wanjiku (finance ops)',
        reviewNote: 'M-PESA statement 2026-12-01: Ksh 500 paid to 254712345678, receipt TK8PLW3ZQA.',
      },
    },
  })
  @ApiBadRequestResponse({
    description:
      'outcome not paid or not_paid; receipt missing (paid) or malformed; note or reviewedBy missing, blank or too long',
  })
  @ApiUnprocessableEntityResponse({ description: 'MPESA.BAD_RESOLUTION: a receipt given with not_paid' })
  @ApiNotFoundResponse({ description: 'MPESA.PAYMENT_NOT_FOUND: no payment with this id' })
  @ApiConflictResponse({
    description:
      "MPESA.NOT_RESOLVABLE: not a withdrawal, not pending (already ended: by M-PESA's answer or another operator), not flagged (needsReview: M-PESA may still answer and the statement may not show it yet), or no money held for it",
  })
  resolve(@Param('id') id: string, @Body() body: ResolveWithdrawalDto) {
    return this.review.resolveWithdrawal(id, body);
  }
}
