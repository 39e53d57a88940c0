import {
  Body,
  CanActivate,
  Controller,
  ExecutionContext,
  HttpCode,
  Injectable,
  Param,
  Post,
  UseGuards,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiExcludeController } from '@nestjs/swagger';
import type { BlockList } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { adminKeyMatches } from '../auth/admin-key.js';
import { DomainError } from '../common/domain-error.js';
import { addressAllowed, allowlist } from '../common/ip-allowlist.js';
import type { AppConfig } from '../config/app-config.js';
import { MpesaService } from './mpesa.service.js';

/**
 * Daraja's callbacks are not signed. They are accepted only on a path carrying
 * MPESA_CALLBACK_SECRET (anything else is a plain 404, as if the route did not exist) and from
 * MPESA_CALLBACK_ALLOWED_IPS when set.
 */
@Injectable()
class MpesaCallbackGuard implements CanActivate {
  private readonly secret: string;
  private readonly allowed: BlockList | null;

  constructor(config: ConfigService<AppConfig, true>) {
    const mpesa = config.get('mpesa', { infer: true });
    this.secret = mpesa.callbackSecret;
    this.allowed = allowlist(mpesa.callbackAllowedIps);
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest<{ Params: { secret?: string } }>>();
    if (!adminKeyMatches(this.secret, (request.params as { secret?: unknown })?.secret)) {
      throw new DomainError('REQUEST.NOT_FOUND', 'not_found', 'Not found');
    }
    if (!addressAllowed(this.allowed, request.ip)) {
      throw new DomainError('MPESA.FORBIDDEN_ADDRESS', 'forbidden', 'This address may not post M-PESA callbacks');
    }
    return true;
  }
}

/** What Daraja is answered on a result callback (it only wants a 200). */
const RECEIVED = { ResultCode: 0, ResultDesc: 'Accepted' };

/** Where Daraja posts results. Hidden from Swagger: only Safaricom calls these. */
@ApiExcludeController()
@UseGuards(MpesaCallbackGuard)
@Controller('api/mpesa/callbacks/:secret')
export class MpesaCallbacksController {
  constructor(private readonly mpesa: MpesaService) {}

  @Post('stk')
  @HttpCode(200)
  async stk(@Body() body: unknown) {
    await this.mpesa.handleStkCallback(body);
    return RECEIVED;
  }

  @Post('c2b/validation')
  @HttpCode(200)
  validation(@Body() body: unknown) {
    return this.mpesa.validateC2b(body);
  }

  @Post('c2b/confirmation')
  @HttpCode(200)
  async confirmation(@Body() body: unknown) {
    await this.mpesa.confirmC2b(body);
    return RECEIVED;
  }

  @Post('b2c/result')
  @HttpCode(200)
  async b2cResult(@Body() body: unknown) {
    await this.mpesa.handleB2cResult(body);
    return RECEIVED;
  }

  @Post('b2c/timeout')
  @HttpCode(200)
  async b2cTimeout(@Body() body: unknown) {
    await this.mpesa.handleB2cTimeout(body);
    return RECEIVED;
  }

  /** Transaction Status answers about one paybill payment (MPESA_C2B_VERIFY). */
  @Post('c2b/status/:id/result')
  @HttpCode(200)
  async c2bStatusResult(@Param('id') id: string, @Body() body: unknown) {
    await this.mpesa.handleC2bStatusResult(id, body);
    return RECEIVED;
  }

  @Post('c2b/status/:id/timeout')
  @HttpCode(200)
  c2bStatusTimeout(@Param('id') id: string, @Body() body: unknown) {
    this.mpesa.handleB2cStatusTimeout(id, body);
    return RECEIVED;
  }

  /** Transaction Status answers about one withdrawal (the URL names it; reconciliation asks). */
  @Post('b2c/status/:id/result')
  @HttpCode(200)
  async b2cStatusResult(@Param('id') id: string, @Body() body: unknown) {
    await this.mpesa.handleB2cStatusResult(id, body);
    return RECEIVED;
  }

  @Post('b2c/status/:id/timeout')
  @HttpCode(200)
  b2cStatusTimeout(@Param('id') id: string, @Body() body: unknown) {
    this.mpesa.handleB2cStatusTimeout(id, body);
    return RECEIVED;
  }
}
