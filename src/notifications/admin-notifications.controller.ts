import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '../auth/admin-api-key.guard.js';
import { toMsisdn } from '../common/phone-number.js';
import { AdminNotificationsQuery, NotificationView } from './dto/notifications.dto.js';
import { NotificationsService } from './notifications.service.js';

@ApiTags('admin')
@AdminOnly()
@Controller('api/admin/notifications')
export class AdminNotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Get()
  @ApiOperation({
    summary: "A number's SMS outbox, or every message in one status (unknown: in doubt, for an operator), newest first",
  })
  @ApiOkResponse({ type: [NotificationView] })
  async list(@Query() query: AdminNotificationsQuery): Promise<NotificationView[]> {
    const rows = await this.notifications.list(
      {
        ...(query.phoneNumber !== undefined ? { phoneNumber: toMsisdn(query.phoneNumber) } : {}),
        ...(query.status !== undefined ? { status: query.status } : {}),
      },
      query.limit ?? 50,
    );
    return rows.map((n) => ({
      id: n.id,
      phoneNumber: n.phoneNumber,
      template: n.template,
      language: n.language,
      body: n.body,
      status: n.status,
      attempts: n.attempts,
      lastError: n.lastError,
      deliveryStatus: n.deliveryStatus,
      deliveryFailureReason: n.deliveryFailureReason,
      deliveryReportedAt: n.deliveryReportedAt,
      requestSentAt: n.requestSentAt,
      createdAt: n.createdAt,
      sentAt: n.sentAt,
    }));
  }
}
