import { Body, Controller, Post, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AdminOnly } from '../auth/admin-api-key.guard.js';
import { OnboardingService } from '../onboarding/onboarding.service.js';
import { AdminDepositDto, DepositResultView } from './dto/loan.dto.js';
import { LoansService } from './loans.service.js';

@ApiTags('admin')
@AdminOnly()
@Controller('api/admin/deposits')
export class AdminDepositsController {
  constructor(
    private readonly loans: LoansService,
    private readonly onboarding: OnboardingService,
  ) {}

  @Post()
  @ApiOperation({
    summary: 'Credit a wallet as a deposit would (operations and testing): debts are allocated as for M-PESA money',
  })
  @ApiCreatedResponse({ type: DepositResultView, description: 'Credited' })
  @ApiOkResponse({ type: DepositResultView, description: 'This reference was already credited; nothing moved' })
  async deposit(
    @Body() body: AdminDepositDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<DepositResultView> {
    const user = await this.onboarding.register(body.phoneNumber);
    const result = await this.loans.receiveDeposit({ userId: user.id, amount: body.amount, reference: body.reference });
    void reply.status(result.replayed ? 200 : 201);
    return result;
  }
}
