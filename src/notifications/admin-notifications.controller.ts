import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminOnly } from '../auth/admin-api-key.guard.js';
import { toMsisdn } from '../common/phone-number.js';
import { NotificationsQuery, NotificationView } from './dto/notifications.dto.js';
import { NotificationsService } from './notifications.service.js';

@ApiTags('admin')
@AdminOnly()
@Controller('api/admin/notifications')
export class AdminNotificationsController {
  constructor(private readonly notifications: NotificationsService) {}

  @Get()
  @ApiOperation({ summary: "A number's SMS outbox, newest first" })
  @ApiOkResponse({ type: [NotificationView] })
  async list(@Query() query: NotificationsQuery): Promise<NotificationView[]> {
    const rows = await this.notifications.listForPhone(toMsisdn(query.phoneNumber), query.limit ?? 50);
    return rows.map((n) => ({
      id: n.id,
      phoneNumber: n.phoneNumber,
      template: n.template,
      language: n.language,
      body: n.body,
      status: n.status,
      attempts: n.attempts,
      lastError: n.lastError,
      createdAt: n.createdAt,
      sentAt: n.sentAt,
    }));
  }
}
