import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentUser, UserAuth } from '../auth/user-auth.guard.js';
import type { AuthenticatedUser } from '../auth/token.service.js';
import { DomainError } from '../common/domain-error.js';
import { IdempotencyHeader, idempotencyKey } from '../common/idempotency.js';
import { UsersService } from '../users/users.service.js';
import { ListLoansQuery, LoanPage, LoanView, PinDto, RepayDto, RequestLoanDto } from './dto/loan.dto.js';
import { presentLoan } from './loan.presenter.js';
import { LoansService } from './loans.service.js';

@ApiTags('loans')
@UserAuth()
@Controller('api/loans')
export class LoansController {
  constructor(
    private readonly loans: LoansService,
    private readonly users: UsersService,
  ) {}

  @Post()
  @IdempotencyHeader()
  @ApiOperation({ summary: 'Ask a lender for a loan (the lender is told by SMS)' })
  @ApiCreatedResponse({ type: LoanView })
  async request(
    @CurrentUser() me: AuthenticatedUser,
    @Body() body: RequestLoanDto,
    @Headers('idempotency-key') key?: string,
  ): Promise<LoanView> {
    await this.users.verifyPin(me.userId, body.pin);
    const requestKey = idempotencyKey(key);
    const loan = await this.loans.requestLoan({
      borrowerId: me.userId,
      lenderPhoneNumber: body.lenderPhoneNumber,
      amount: body.amount,
      repaymentPerDeposit: body.repaymentPerDeposit,
      requestKey: requestKey ? `api:${me.userId}:${requestKey}` : undefined,
    });
    return this.view(loan.id, me.userId);
  }

  @Get()
  @ApiOperation({ summary: 'Your loans, as borrower and as lender (newest first)' })
  @ApiOkResponse({ type: LoanPage })
  async list(@CurrentUser() me: AuthenticatedUser, @Query() query: ListLoansQuery): Promise<LoanPage> {
    const { items, total } = await this.loans.listForUser(me.userId, {
      role: query.role,
      status: query.status ? [query.status] : undefined,
      limit: query.limit,
      offset: query.offset,
    });
    return { items: items.map((l) => presentLoan(l, me.userId, new Map())), total };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One of your loans, with its repayments' })
  @ApiOkResponse({ type: LoanView })
  get(@Param('id') id: string, @CurrentUser() me: AuthenticatedUser): Promise<LoanView> {
    return this.view(id, me.userId);
  }

  @Post(':id/approve')
  @HttpCode(200)
  @ApiOperation({ summary: 'Lender: approve with your PIN; the principal moves to the borrower at once' })
  @ApiOkResponse({ type: LoanView })
  async approve(
    @Param('id') id: string,
    @CurrentUser() me: AuthenticatedUser,
    @Body() body: PinDto,
  ): Promise<LoanView> {
    await this.users.verifyPin(me.userId, body.pin);
    await this.loans.approve(id, me.userId);
    return this.view(id, me.userId);
  }

  @Post(':id/decline')
  @HttpCode(200)
  @ApiOperation({ summary: 'Lender: decline a pending request' })
  @ApiOkResponse({ type: LoanView })
  async decline(@Param('id') id: string, @CurrentUser() me: AuthenticatedUser): Promise<LoanView> {
    await this.loans.decline(id, me.userId);
    return this.view(id, me.userId);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Borrower: cancel your pending request' })
  @ApiOkResponse({ type: LoanView })
  async cancel(@Param('id') id: string, @CurrentUser() me: AuthenticatedUser): Promise<LoanView> {
    await this.loans.cancel(id, me.userId);
    return this.view(id, me.userId);
  }

  @Post(':id/repay')
  @HttpCode(200)
  @IdempotencyHeader(true)
  @ApiOperation({ summary: 'Borrower: repay any amount up to min(outstanding, wallet balance) with your PIN' })
  @ApiOkResponse({ type: LoanView })
  async repay(
    @Param('id') id: string,
    @CurrentUser() me: AuthenticatedUser,
    @Body() body: RepayDto,
    @Headers('idempotency-key') key?: string,
  ): Promise<LoanView> {
    // Required: a client retrying a repayment that timed out must not pay twice.
    const retryKey = idempotencyKey(key);
    if (!retryKey)
      throw new DomainError(
        'REQUEST.IDEMPOTENCY_KEY_REQUIRED',
        'invalid',
        'Send an Idempotency-Key header with each repayment',
      );
    await this.users.verifyPin(me.userId, body.pin);
    await this.loans.repay(id, me.userId, body.amount, `api:${retryKey}`);
    return this.view(id, me.userId);
  }

  private async view(id: string, userId: string): Promise<LoanView> {
    const { loan, repayments } = await this.loans.getForParty(id, userId);
    return presentLoan(loan, userId, new Map(), repayments);
  }
}
