import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { AdminOnly } from '../auth/admin-api-key.guard.js';
import { toMsisdn } from '../common/phone-number.js';
import { NotificationsService } from './notifications.service.js';

export class NotificationsQuery {
  @ApiProperty({ example: '0712345678' })
  @IsString()
  @MaxLength(20)
  phoneNumber!: string;

  @ApiPropertyOptional({ default: 50, minimum: 1, maximum: 200 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;
}

export class NotificationView {
  @ApiProperty()
  id!: string;

  @ApiProperty({ example: '254712345678' })
  phoneNumber!: string;

  @ApiProperty({ example: 'deposit.received' })
  template!: string;

  @ApiProperty({ example: 'en' })
  language!: string;

  @ApiProperty({ example: 'Ksh 1000 received. Ksh 500 deducted for loan. New balance: Ksh 500' })
  body!: string;

  @ApiProperty({ example: 'delivered', enum: ['pending', 'sending', 'sent', 'delivered', 'failed'] })
  status!: string;

  @ApiProperty({ example: 1 })
  attempts!: number;

  @ApiProperty({ nullable: true, type: String })
  lastError!: string | null;

  @ApiProperty()
  createdAt!: Date;

  @ApiProperty({ nullable: true, type: Date })
  sentAt!: Date | null;
}

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
