import {
  BadRequestException,
  Body,
  type CanActivate,
  Injectable,
  UnsupportedMediaTypeException,
  Controller,
  Get,
  Headers,
  HttpCode,
  Param,
  Post,
  Res,
  UseGuards,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import {
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import type { FastifyReply } from 'fastify';
import { AdminOnly } from '../auth/admin-api-key.guard.js';
import { DomainError } from '../common/domain-error.js';
import type { AppConfig } from '../config/app-config.js';
import {
  DialectError,
  gatewayForContentType,
  GATEWAYS,
  isGateway,
  parseInbound,
  renderReply,
  renderUnreadable,
  type GatewayName,
} from './dialects.js';
import { UssdService } from './ussd.service.js';
import { UssdWebhookGuard } from './ussd-webhook.guard.js';

export class UssdTestDto {
  @ApiProperty({ example: 'test-1' })
  @IsString()
  @MaxLength(100)
  sessionId!: string;

  @ApiProperty({ example: '254701234567' })
  @IsString()
  @MaxLength(32)
  phoneNumber!: string;

  @ApiProperty({ example: '1', description: 'The latest input ("" to dial)' })
  @IsString()
  @MaxLength(500)
  text!: string;

  @ApiPropertyOptional({ example: '*383#' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  serviceCode?: string;
}

/** The seed's test endpoint exists only where enabled: elsewhere it is a 404, before any other check. */
@Injectable()
class UssdTestEndpointGuard implements CanActivate {
  private readonly enabled: boolean;
  constructor(config: ConfigService<AppConfig, true>) {
    this.enabled = config.get('ussd', { infer: true }).testEndpoint;
  }
  canActivate(): boolean {
    if (!this.enabled) throw new DomainError('REQUEST.NOT_FOUND', 'not_found', 'Not found');
    return true;
  }
}

const AT_EXAMPLE = 'sessionId=ATUid_1&serviceCode=%2A383%23&phoneNumber=%2B254701234567&networkCode=63902&text=1';
const GENERIC_EXAMPLE = { sessionId: 'sess-123', phoneNumber: '254701234567', text: '1', serviceCode: '*383' };

/** The USSD webhook for every gateway, and the seed's test and monitoring endpoints. */
@ApiTags('ussd')
@Controller('api/ussd')
export class UssdController {
  private readonly settings: AppConfig['ussd'];

  constructor(
    private readonly ussd: UssdService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('ussd', { infer: true });
  }

  @Post('handler')
  @HttpCode(200)
  @UseGuards(UssdWebhookGuard)
  @ApiOperation({
    summary:
      "USSD webhook: Africa's Talking (form-urlencoded → CON/END text) or the generic JSON format, told apart by content type",
  })
  @ApiConsumes('application/x-www-form-urlencoded', 'application/json')
  @ApiProduces('text/plain', 'application/json')
  @ApiBody({
    schema: {
      oneOf: [
        { type: 'string', example: AT_EXAMPLE },
        { type: 'object', example: GENERIC_EXAMPLE },
      ],
    },
  })
  @ApiOkResponse({ description: 'A screen: `CON …`/`END …`, or `{responseType, message}`' })
  async handler(
    @Body() body: unknown,
    @Headers('content-type') contentType: string | undefined,
    @Res() reply: FastifyReply,
  ) {
    const gateway = gatewayForContentType(contentType);
    if (!gateway) {
      throw new UnsupportedMediaTypeException({
        code: 'USSD.UNSUPPORTED_CONTENT_TYPE',
        message: 'Send application/x-www-form-urlencoded or application/json',
      });
    }
    return this.answer(gateway, body, reply);
  }

  @Post('handler/:gateway')
  @HttpCode(200)
  @UseGuards(UssdWebhookGuard)
  @ApiOperation({ summary: 'USSD webhook for a named gateway, in its own request and reply format' })
  @ApiParam({ name: 'gateway', enum: GATEWAYS })
  async namedHandler(@Param('gateway') name: string, @Body() body: unknown, @Res() reply: FastifyReply) {
    if (!isGateway(name)) {
      throw new BadRequestException({
        code: 'USSD.UNKNOWN_GATEWAY',
        message: `Unknown gateway; use one of ${GATEWAYS.join(', ')}`,
      });
    }
    return this.answer(name, body, reply);
  }

  @Post('test')
  @HttpCode(200)
  @UseGuards(UssdTestEndpointGuard, UssdWebhookGuard)
  @ApiOperation({
    summary:
      "The seed's test endpoint: one step of the journey without a gateway (off in production unless USSD_TEST_ENDPOINT=true)",
  })
  async test(@Body() body: UssdTestDto) {
    let inbound;
    try {
      inbound = parseInbound('generic', { ...body, serviceCode: body.serviceCode ?? this.settings.serviceCode });
    } catch (e) {
      // The DTO lets '' through (e.g. phoneNumber: ''); the dialect's reason is the answer, not a 500.
      if (e instanceof DialectError) throw new BadRequestException({ code: 'USSD.BAD_REQUEST', message: e.message });
      throw e;
    }
    const { reply, screen } = await this.ussd.handle(inbound);
    return {
      sessionId: body.sessionId,
      phoneNumber: body.phoneNumber,
      state: screen,
      message: reply.message,
      continueSession: !reply.end,
    };
  }

  @Get('sessions')
  @AdminOnly()
  @ApiOperation({ summary: 'Active USSD sessions (monitoring)' })
  async sessions() {
    const now = Date.now();
    const sessions = await this.ussd.listSessions();
    return {
      activeSessions: sessions.length,
      sessions: sessions.map((s) => ({
        sessionId: s.id,
        phoneNumber: s.phoneNumber,
        state: s.screen,
        createdAt: new Date(s.createdAt).toISOString(),
        lastActivityAt: new Date(s.updatedAt).toISOString(),
        idleTime: now - s.updatedAt,
      })),
    };
  }

  @Post('sessions/clear')
  @HttpCode(200)
  @AdminOnly()
  @ApiOperation({ summary: 'Clear all USSD sessions (maintenance)' })
  async clear() {
    await this.ussd.clearSessions();
    return { message: 'All sessions cleared' };
  }

  @Get('health')
  @ApiOperation({ summary: 'USSD service health (the seed’s shape)' })
  async health() {
    return {
      status: 'USSD service is running',
      timestamp: new Date().toISOString(),
      activeSessions: await this.ussd.countSessions(),
    };
  }

  private async answer(gateway: GatewayName, body: unknown, reply: FastifyReply) {
    let inbound;
    try {
      inbound = parseInbound(gateway, body, { serviceCode: this.settings.serviceCode });
    } catch (e) {
      if (!(e instanceof DialectError)) throw e;
      const screen = renderUnreadable(gateway, await this.ussd.unreadable(body));
      if (screen) return reply.status(200).header('content-type', screen.contentType).send(screen.body);
      // A request we cannot read is a 400 Bad Request, like any malformed body (not a 422).
      throw new BadRequestException({ code: 'USSD.BAD_REQUEST', message: e.message });
    }
    const { reply: screen } = await this.ussd.handle(inbound);
    const rendered = renderReply(gateway, screen, inbound);
    return reply.status(200).header('content-type', rendered.contentType).send(rendered.body);
  }
}
