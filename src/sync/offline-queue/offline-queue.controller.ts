import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiProperty, ApiTags } from '@nestjs/swagger';
import { IsString, MaxLength } from 'class-validator';
import { AdminOnly } from '../../auth/admin-api-key.guard.js';
import { toMsisdn } from '../../common/phone-number.js';
import { OfflineQueueService } from './offline-queue.service.js';

export class UssdSyncDto {
  @ApiProperty({ example: '254701234567', description: 'Any form of a Kenyan mobile number' })
  @IsString()
  @MaxLength(32)
  phoneNumber!: string;
}

const QUEUE_EXAMPLE = {
  phoneNumber: '254701234567',
  totalItems: 2,
  syncedItems: 1,
  unsyncedItems: 1,
  items: [
    {
      id: 'K7Q2M9XA3D',
      type: 'LOAN_REQUEST',
      data: { lenderPhoneNumber: '254722000000', amount: 5000, repaymentPerDeposit: 500 },
      queuedAt: 1701356400000,
      synced: true,
      status: 'applied',
      attempts: 2,
      lastError: null,
    },
    {
      id: 'P3V8N1RT6W',
      type: 'REPAYMENT',
      data: { loanId: '6f1c2a3e-6d0b-4d43-9a52-2f3a3c8b9d10', amount: 300 },
      queuedAt: 1701356460000,
      synced: false,
      status: 'pending',
      attempts: 1,
      lastError: 'database unavailable',
    },
  ],
};

/** The seed's offline queue endpoints, for operators (admin key), at the seed's /api/ussd paths. */
@ApiTags('ussd')
@Controller('api/ussd')
export class OfflineQueueController {
  constructor(private readonly offline: OfflineQueueService) {}

  @Get('queue/:phoneNumber')
  @AdminOnly()
  @ApiOperation({
    summary: "A number's offline queue: writes accepted by USSD while PostgreSQL was down, and what became of them",
    description:
      'status is pending (not applied yet), applied, rejected (refused for good, e.g. not enough money), conflict (the loan had moved on) or expired (not applied within OFFLINE_RETRY_HOURS). The user is told every outcome by SMS. No PIN material is ever queued.',
  })
  @ApiParam({ name: 'phoneNumber', example: '254701234567' })
  @ApiOkResponse({ schema: { example: QUEUE_EXAMPLE } })
  async queue(@Param('phoneNumber') phoneNumber: string) {
    const msisdn = toMsisdn(phoneNumber);
    const items = await this.offline.list(msisdn);
    const synced = items.filter((item) => item.synced).length;
    return {
      phoneNumber: msisdn,
      totalItems: items.length,
      syncedItems: synced,
      unsyncedItems: items.length - synced,
      items: items.map(({ id, type, data, queuedAt, synced, status, attempts, lastError }) => ({
        id,
        type,
        data,
        queuedAt,
        synced,
        status,
        attempts,
        lastError,
      })),
    };
  }

  @Post('sync')
  @HttpCode(200)
  @AdminOnly()
  @ApiOperation({
    summary:
      "Apply a number's pending offline items now, oldest first (instead of waiting for the worker's next attempt)",
    description:
      'synced counts items closed by this call (applied, rejected or conflict); errors lists those still pending, with why.',
  })
  @ApiOkResponse({ schema: { example: { success: true, synced: 3, total: 3, errors: [] } } })
  async sync(@Body() body: UssdSyncDto) {
    return this.offline.syncNow(toMsisdn(body.phoneNumber));
  }
}
