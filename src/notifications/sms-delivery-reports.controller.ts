import type { BlockList } from 'node:net';
import {
  Body,
  type CanActivate,
  Controller,
  type ExecutionContext,
  HttpCode,
  Injectable,
  Post,
  UseGuards,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { adminKeyMatches } from '../auth/admin-key.js';
import { DomainError } from '../common/domain-error.js';
import { addressAllowed, allowlist } from '../common/ip-allowlist.js';
import type { AppConfig } from '../config/app-config.js';
import { readDeliveryReport } from './africastalking-delivery-report.js';
import { NotificationsService } from './notifications.service.js';

/**
 * Africa's Talking does not sign delivery reports. As with Daraja's callbacks, they are accepted
 * only with AT_DELIVERY_REPORT_SECRET in the URL (`?secret=`; anything else is a plain 404, as if
 * the route did not exist) and from AT_DELIVERY_REPORT_ALLOWED_IPS when set.
 */
@Injectable()
class AtDeliveryReportGuard implements CanActivate {
  private readonly secret: string;
  private readonly allowed: BlockList | null;

  constructor(config: ConfigService<AppConfig, true>) {
    const reports = config.get('sms', { infer: true }).deliveryReports;
    this.secret = reports.secret;
    this.allowed = allowlist(reports.allowedIps);
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (!adminKeyMatches(this.secret, (request.query as { secret?: unknown } | undefined)?.secret)) {
      throw new DomainError('REQUEST.NOT_FOUND', 'not_found', 'Not found');
    }
    if (!addressAllowed(this.allowed, request.ip)) {
      throw new DomainError('SMS.FORBIDDEN_ADDRESS', 'forbidden', 'This address may not post delivery reports');
    }
    return true;
  }
}

/** Where Africa's Talking posts delivery reports. Hidden from Swagger: only AT calls it. */
@ApiExcludeController()
@UseGuards(AtDeliveryReportGuard)
@Controller('api/sms/delivery-reports')
export class SmsDeliveryReportsController {
  constructor(private readonly notifications: NotificationsService) {}

  /** Always 200 once read, whatever became of it: AT only needs to know it arrived. */
  @Post('africastalking')
  @HttpCode(200)
  async africasTalking(@Body() body: unknown): Promise<{ outcome: string }> {
    return { outcome: await this.notifications.recordDeliveryReport(readDeliveryReport(body)) };
  }
}
