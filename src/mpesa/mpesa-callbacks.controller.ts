import { Body, Controller, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { SharedSecretGuard } from '../auth/shared-secret.guard.js';
import { DomainError } from '../common/domain-error.js';
import { WithdrawalService } from './withdrawal.service.js';
import { WithdrawalStatusService } from './withdrawal-status.service.js';
import { TopUpService } from './top-up.service.js';
import { PaybillService } from './paybill.service.js';

/**
 * Daraja's callbacks are not signed. They are accepted only on a path carrying
 * MPESA_CALLBACK_SECRET (anything else is a plain 404, as if the route did not exist) and from
 * MPESA_CALLBACK_ALLOWED_IPS when set.
 */
const MpesaCallbackGuard = SharedSecretGuard({
  callers: (config) => {
    const mpesa = config.get('mpesa', { infer: true });
    return { secret: mpesa.callbackSecret, allowedIps: mpesa.callbackAllowedIps };
  },
  presented: (request) => (request.params as { secret?: unknown } | undefined)?.secret,
  badSecret: () => new DomainError('REQUEST.NOT_FOUND', 'not_found', 'Not found'),
  badAddress: () =>
    new DomainError('MPESA.FORBIDDEN_ADDRESS', 'forbidden', 'This address may not post M-PESA callbacks'),
});

/** What Daraja is answered on a result callback (it only wants a 200). */
const RECEIVED = { ResultCode: 0, ResultDesc: 'Accepted' };

/** Where Daraja posts results. Hidden from Swagger: only Safaricom calls these. */
@ApiExcludeController()
@UseGuards(MpesaCallbackGuard)
@Controller('api/mpesa/callbacks/:secret')
export class MpesaCallbacksController {
  constructor(
    private readonly topUps: TopUpService,
    private readonly paybill: PaybillService,
    private readonly withdrawals: WithdrawalService,
    private readonly withdrawalStatus: WithdrawalStatusService,
  ) {}

  @Post('stk')
  @HttpCode(200)
  async stk(@Body() body: unknown) {
    await this.topUps.handleStkCallback(body);
    return RECEIVED;
  }

  @Post('c2b/validation')
  @HttpCode(200)
  validation(@Body() body: unknown) {
    return this.paybill.validateC2b(body);
  }

  @Post('c2b/confirmation')
  @HttpCode(200)
  async confirmation(@Body() body: unknown) {
    await this.paybill.confirmC2b(body);
    return RECEIVED;
  }

  @Post('b2c/result')
  @HttpCode(200)
  async b2cResult(@Body() body: unknown) {
    await this.withdrawals.handleB2cResult(body);
    return RECEIVED;
  }

  @Post('b2c/timeout')
  @HttpCode(200)
  async b2cTimeout(@Body() body: unknown) {
    await this.withdrawals.handleB2cTimeout(body);
    return RECEIVED;
  }

  /** Transaction Status answers about one paybill payment (MPESA_C2B_VERIFY). */
  @Post('c2b/status/:id/result')
  @HttpCode(200)
  async c2bStatusResult(@Param('id') id: string, @Body() body: unknown) {
    await this.paybill.handleC2bStatusResult(id, body);
    return RECEIVED;
  }

  @Post('c2b/status/:id/timeout')
  @HttpCode(200)
  c2bStatusTimeout(@Param('id') id: string, @Body() body: unknown) {
    this.withdrawalStatus.handleB2cStatusTimeout(id, body);
    return RECEIVED;
  }

  /** Transaction Status answers about one withdrawal (the URL names it; reconciliation asks). */
  @Post('b2c/status/:id/result')
  @HttpCode(200)
  async b2cStatusResult(@Param('id') id: string, @Body() body: unknown) {
    await this.withdrawalStatus.handleB2cStatusResult(id, body);
    return RECEIVED;
  }

  @Post('b2c/status/:id/timeout')
  @HttpCode(200)
  b2cStatusTimeout(@Param('id') id: string, @Body() body: unknown) {
    this.withdrawalStatus.handleB2cStatusTimeout(id, body);
    return RECEIVED;
  }
}
