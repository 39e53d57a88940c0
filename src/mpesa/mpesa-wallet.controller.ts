import { Body, Controller, Get, Headers, HttpCode, Post } from '@nestjs/common';
import { IdempotencyHeader, idempotencyKey } from '../common/idempotency.js';
import { uuidFrom } from '../common/ids.js';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentUser, UserAuth } from '../auth/user-auth.guard.js';
import type { AuthenticatedUser } from '../auth/token.service.js';
import { UsersService } from '../users/users.service.js';
import { PaymentView, TopUpDto, WithdrawDto } from './dto/mpesa.dto.js';
import type { MpesaPayment } from './mpesa-payment.entity.js';
import { MpesaPaymentsRepository } from './mpesa-payments.repository.js';
import { WithdrawalService } from './withdrawal.service.js';
import { TopUpService } from './top-up.service.js';

function view(p: MpesaPayment): PaymentView {
  return {
    id: p.id,
    kind: p.kind,
    status: p.status,
    amount: p.amount,
    checkoutRequestId: p.checkoutRequestId,
    receipt: p.receipt,
    resultCode: p.resultCode,
    createdAt: p.createdAt,
  };
}

/** Money in and out of the wallet through M-PESA. */
@ApiTags('wallet')
@UserAuth()
@Controller('api/wallet')
export class MpesaWalletController {
  constructor(
    private readonly mpesaPayments: MpesaPaymentsRepository,
    private readonly topUps: TopUpService,
    private readonly withdrawals: WithdrawalService,
    private readonly users: UsersService,
  ) {}

  @Post('deposits')
  @HttpCode(202)
  @ApiOperation({
    summary:
      'Top up from M-PESA: a prompt (STK push) goes to your phone; the wallet is credited when you confirm, and your debts are allocated from it',
  })
  @ApiAcceptedResponse({ type: PaymentView })
  @IdempotencyHeader()
  async deposit(
    @CurrentUser() me: AuthenticatedUser,
    @Body() body: TopUpDto,
    @Headers('idempotency-key') key?: string,
  ): Promise<PaymentView> {
    const given = idempotencyKey(key);
    // With a key, a client's retry after a lost answer is the same top-up: one prompt, not two.
    const id = given ? uuidFrom(`rest-top-up:${me.userId}:${given}`) : undefined;
    return view(await this.topUps.startTopUp(me.userId, body.amount, { id }));
  }

  @Post('withdrawals')
  @HttpCode(202)
  @ApiOperation({
    summary:
      'Withdraw to your M-PESA (B2C): the amount is held at once, and paid out or returned when M-PESA answers; you get an SMS either way',
  })
  @ApiAcceptedResponse({ type: PaymentView })
  @IdempotencyHeader()
  async withdraw(
    @CurrentUser() me: AuthenticatedUser,
    @Body() body: WithdrawDto,
    @Headers('idempotency-key') key?: string,
  ): Promise<PaymentView> {
    const given = idempotencyKey(key);
    await this.users.verifyPin(me.userId, body.pin);
    // With a key, a client's retry after a lost answer is the same withdrawal, not a second one.
    const id = given ? uuidFrom(`rest-withdrawal:${me.userId}:${given}`) : undefined;
    return view(await this.withdrawals.withdraw(me.userId, body.amount, { id }));
  }

  @Get('payments')
  @ApiOperation({ summary: 'Your M-PESA top-ups, paybill payments and withdrawals, newest first' })
  @ApiOkResponse({ type: [PaymentView] })
  async payments(@CurrentUser() me: AuthenticatedUser): Promise<PaymentView[]> {
    return (await this.mpesaPayments.forUser(me.userId)).map(view);
  }
}
