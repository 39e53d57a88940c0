import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min, ValidateIf } from 'class-validator';
import { NOTIFICATION_STATUSES, type NotificationStatus } from '../notification.entity.js';

/** How many of the newest messages a listing of the outbox gives. */
class OutboxPage {
  @ApiPropertyOptional({ default: 50, minimum: 1, maximum: 200 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;
}

/** A number's SMS outbox: the admin route and the phone simulator page ask for it the same way. */
export class NotificationsQuery extends OutboxPage {
  @ApiProperty({ example: '0712345678' })
  @IsString()
  @MaxLength(20)
  phoneNumber!: string;
}

/**
 * The admin outbox: a number's messages, the messages in one status across numbers (`unknown`:
 * messages in doubt waiting for an operator; `rejected`, `failed`), or a number's in one status.
 */
export class AdminNotificationsQuery extends OutboxPage {
  @ApiPropertyOptional({ example: '0712345678', description: 'Required unless status is given' })
  @ValidateIf((q: AdminNotificationsQuery) => q.status === undefined || q.phoneNumber !== undefined)
  @IsString()
  @MaxLength(20)
  phoneNumber?: string;

  @ApiPropertyOptional({ enum: NOTIFICATION_STATUSES, example: 'unknown' })
  @IsOptional()
  @IsIn(NOTIFICATION_STATUSES)
  status?: NotificationStatus;
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

  @ApiProperty({
    example: 'delivered',
    enum: NOTIFICATION_STATUSES,
    description:
      'sent: the provider took it; delivered, rejected, failed: as its delivery report said (failed also: refused, or out of attempts); unknown: in doubt, not sent again',
  })
  status!: string;

  @ApiProperty({ example: 1 })
  attempts!: number;

  @ApiProperty({ nullable: true, type: String })
  lastError!: string | null;

  @ApiProperty({ nullable: true, type: String, example: 'Failed', description: "The latest delivery report's status" })
  deliveryStatus!: string | null;

  @ApiProperty({
    nullable: true,
    type: String,
    example: 'DeliveryFailure',
    description: "The delivery report's failureReason (with Rejected or Failed)",
  })
  deliveryFailureReason!: string | null;

  @ApiProperty({ nullable: true, type: Date })
  deliveryReportedAt!: Date | null;

  @ApiProperty({
    nullable: true,
    type: Date,
    description: 'When the request of its last attempt left for the provider',
  })
  requestSentAt!: Date | null;

  @ApiProperty()
  createdAt!: Date;

  @ApiProperty({ nullable: true, type: Date })
  sentAt!: Date | null;
}
