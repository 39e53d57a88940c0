import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthenticatedUser } from '../auth/token.service.js';
import { CurrentUser, UserAuth } from '../auth/user-auth.guard.js';
import {
  SYNC_PULL_EXAMPLE,
  SYNC_PUSH_EXAMPLE,
  SyncPullQuery,
  SyncPullResponse,
  SyncPushDto,
  SyncPushResponse,
} from './dto/sync.dto.js';
import { SyncService } from './sync.service.js';
import type { SyncPull } from './sync.types.js';

@ApiTags('sync')
@UserAuth()
@Controller('api/sync')
export class SyncController {
  constructor(private readonly sync: SyncService) {}

  @Post('push')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Apply operations a device made offline, each once by its opId: applied, duplicate (the original result), rejected (with a code) or conflict (with the server state; the server wins)',
  })
  @ApiOkResponse({ type: SyncPushResponse, example: SYNC_PUSH_EXAMPLE })
  async push(@CurrentUser() me: AuthenticatedUser, @Body() body: SyncPushDto): Promise<SyncPushResponse> {
    return { results: await this.sync.push(me.userId, body.deviceId, body.operations) };
  }

  @Get('pull')
  @ApiOperation({
    summary: 'Your loans, wallet entries and balance changed since the cursor; a new cursor and hasMore',
  })
  @ApiOkResponse({ type: SyncPullResponse, example: SYNC_PULL_EXAMPLE })
  pull(@CurrentUser() me: AuthenticatedUser, @Query() query: SyncPullQuery): Promise<SyncPull> {
    return this.sync.pull(me.userId, query.since, query.limit);
  }
}
