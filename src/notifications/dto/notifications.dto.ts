import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

/** A number's SMS outbox: the admin route and the phone simulator page ask for it the same way. */
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
