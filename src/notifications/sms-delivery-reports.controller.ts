import { Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { SharedSecretGuard } from '../auth/shared-secret.guard.js';
import { DomainError } from '../common/domain-error.js';
import { readDeliveryReport } from './africastalking-delivery-report.js';
import { NotificationsService } from './notifications.service.js';

/**
 * Africa's Talking does not sign delivery reports. As with Daraja's callbacks, they are accepted
 * only with AT_DELIVERY_REPORT_SECRET in the URL (`?secret=`; anything else is a plain 404, as if
 * the route did not exist) and from AT_DELIVERY_REPORT_ALLOWED_IPS when set.
 */
const AtDeliveryReportGuard = SharedSecretGuard({
  callers: (config) => {
    const reports = config.get('sms', { infer: true }).deliveryReports;
    return { secret: reports.secret, allowedIps: reports.allowedIps };
  },
  presented: (request) => (request.query as { secret?: unknown } | undefined)?.secret,
  badSecret: () => new DomainError('REQUEST.NOT_FOUND', 'not_found', 'Not found'),
  badAddress: () => new DomainError('SMS.FORBIDDEN_ADDRESS', 'forbidden', 'This address may not post delivery reports'),
});

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
