import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiParam, ApiProperty, ApiTags } from '@nestjs/swagger';
import { IsIn, IsString, MaxLength } from 'class-validator';
import { AdminOnly } from '../auth/admin-api-key.guard.js';
import { DomainError } from '../common/domain-error.js';
import { isLoopbackHost } from '../common/ip-allowlist.js';
import type { AppConfig } from '../config/app-config.js';
import {
  SIMULATOR_OUTCOMES,
  STK_RESOLUTIONS,
  type PendingStkPush,
  type SimulatorOutcome,
  type StkResolution,
} from '../simulators/daraja/outcomes.js';
import { NotificationsQuery, NotificationView } from '../notifications/dto/notifications.dto.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { toMsisdn } from '../common/phone-number.js';

export class SimulatorOutcomeDto {
  @ApiProperty({ example: '0712345678' })
  @IsString()
  @MaxLength(20)
  phoneNumber!: string;

  @ApiProperty({ enum: SIMULATOR_OUTCOMES, example: 'cancelled' })
  @IsIn(SIMULATOR_OUTCOMES)
  outcome!: SimulatorOutcome;
}

export class PendingTopUpsQuery {
  @ApiProperty({ example: '0712345678' })
  @IsString()
  @MaxLength(20)
  phoneNumber!: string;
}

export class DeliverOutcomeDto {
  @ApiProperty({ enum: STK_RESOLUTIONS, example: 'success' })
  @IsIn(STK_RESOLUTIONS)
  outcome!: StkResolution;
}

export class PendingTopUpView {
  @ApiProperty({ example: 'ws_CO_191220191020363925' })
  checkoutRequestId!: string;

  @ApiProperty({ example: 250, description: 'Whole shillings' })
  amount!: number;

  @ApiProperty({ example: '2024-07-06T19:48:52.000Z' })
  requestedAt!: Date;

  @ApiProperty({
    description:
      'Held by the `hold` outcome until one is delivered; false while the simulated customer is still "answering"',
  })
  held!: boolean;
}

/**
 * The phone simulator's own routes (development only: SimulatorModule is loaded only when
 * SIMULATOR_ENABLED is on). `config` is open: the page needs it before anyone types a key, and it
 * says nothing about anybody. The control routes (a number's SMS, the next simulated M-PESA
 * outcome, a number's pending top-ups and delivering an outcome to one) read other people's
 * messages or decide what happens to money, so they follow the admin rule like any operator route
 * (the key; with none set, which production rules never allow, loopback callers only).
 */
@ApiTags('simulator')
@Controller('simulator/api')
export class SimulatorController {
  private readonly serviceCode: string;
  /**
   * The Daraja simulator Deni talks to (the simulators process in development, a test's own in
   * tests), driven over its control routes; unset when M-PESA is not simulated here: in
   * production, or with MPESA_BASE_URL on another machine (a sandbox or Daraja itself).
   */
  private readonly simulatorUrl?: string;
  private readonly adminKeyRequired: boolean;

  constructor(
    private readonly notifications: NotificationsService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.serviceCode = config.get('ussd', { infer: true }).serviceCode;
    const baseUrl = config.get('mpesa', { infer: true }).baseUrl;
    const local = baseUrl !== undefined && isLoopbackHost(URL.parse(baseUrl)?.hostname ?? '');
    this.simulatorUrl = local && !config.get('isProduction', { infer: true }) ? baseUrl : undefined;
    this.adminKeyRequired = Boolean(config.get('security', { infer: true }).adminApiKey);
  }

  @Get('config')
  @ApiOperation({
    summary:
      'What the simulator page needs: the USSD code, the simulated M-PESA outcomes, and whether the control routes ask for the admin key (development only; no key needed)',
  })
  @ApiOkResponse({
    schema: {
      example: {
        serviceCode: '*383#',
        mpesaSimulated: true,
        adminKeyRequired: true,
        outcomes: SIMULATOR_OUTCOMES,
        deliverable: STK_RESOLUTIONS,
      },
    },
  })
  info() {
    return {
      serviceCode: this.serviceCode,
      mpesaSimulated: this.simulatorUrl !== undefined,
      adminKeyRequired: this.adminKeyRequired,
      outcomes: SIMULATOR_OUTCOMES,
      deliverable: STK_RESOLUTIONS,
    };
  }

  @Get('sms')
  @AdminOnly()
  @ApiOperation({ summary: "A number's SMS outbox, newest first (development only: SIMULATOR_ENABLED)" })
  @ApiOkResponse({ type: [NotificationView] })
  async sms(
    @Query() query: NotificationsQuery,
  ): Promise<Pick<NotificationView, 'id' | 'template' | 'body' | 'status' | 'createdAt'>[]> {
    const rows = await this.notifications.listForPhone(toMsisdn(query.phoneNumber), query.limit ?? 20);
    return rows.map((n) => ({
      id: n.id,
      template: n.template,
      body: n.body,
      status: n.status,
      createdAt: n.createdAt,
    }));
  }

  @Post('mpesa/outcome')
  @AdminOnly()
  @HttpCode(200)
  @ApiOperation({
    summary:
      "Sets how the Daraja simulator answers this number's next STK push (top-up) or B2C (withdrawal); it stays until changed (development only)",
  })
  async outcome(@Body() body: SimulatorOutcomeDto) {
    const phoneNumber = toMsisdn(body.phoneNumber);
    await this.simulator().setOutcome(phoneNumber, body.outcome);
    return { phoneNumber, outcome: body.outcome };
  }

  @Get('mpesa/pending')
  @AdminOnly()
  @ApiOperation({
    summary:
      "This number's top-ups (STK pushes) the Daraja simulator has not answered yet, oldest first: those held by the `hold` outcome, and any still in their short delay (development only)",
  })
  @ApiOkResponse({ type: [PendingTopUpView] })
  async pending(@Query() query: PendingTopUpsQuery): Promise<PendingTopUpView[]> {
    const phoneNumber = toMsisdn(query.phoneNumber);
    return (await this.simulator().pendingStkPushes(phoneNumber)).map(
      ({ checkoutRequestId, amount, requestedAt, held }) => ({ checkoutRequestId, amount, requestedAt, held }),
    );
  }

  @Post('mpesa/pending/:checkoutRequestId')
  @AdminOnly()
  @HttpCode(200)
  @ApiOperation({
    summary:
      "Delivers an outcome to one pending top-up now: the Daraja simulator sends its callback (none for no_callback, lost_callback, queue_timeout; two for duplicate_callback) to Deni's real callback route (development only)",
  })
  @ApiParam({ name: 'checkoutRequestId', example: 'ws_CO_191220191020363925' })
  @ApiOkResponse({ schema: { example: { checkoutRequestId: 'ws_CO_191220191020363925', outcome: 'success' } } })
  @ApiNotFoundResponse({ description: 'No such pending top-up (unknown, or already answered)' })
  async deliver(@Param('checkoutRequestId') checkoutRequestId: string, @Body() body: DeliverOutcomeDto) {
    const simulator = this.simulator();
    if (!(await simulator.pendingStkPushes()).some((p) => p.checkoutRequestId === checkoutRequestId)) {
      throw new DomainError(
        'SIMULATOR.NO_PENDING_TOPUP',
        'not_found',
        'No pending top-up with this CheckoutRequestID (unknown, or already answered)',
      );
    }
    await simulator.resolveStkPush(checkoutRequestId, body.outcome);
    return { checkoutRequestId, outcome: body.outcome };
  }

  private simulator(): SimulatorControl {
    if (!this.simulatorUrl) {
      throw new DomainError(
        'SIMULATOR.MPESA_NOT_SIMULATED',
        'conflict',
        'M-PESA is not simulated here (MPESA_BASE_URL is not a simulator on this machine)',
      );
    }
    return remoteControl(this.simulatorUrl);
  }
}

/** What the page's routes ask of the Daraja simulator. */
interface SimulatorControl {
  setOutcome(phoneNumber: string, outcome: SimulatorOutcome): Promise<unknown>;
  pendingStkPushes(phoneNumber?: string): Promise<PendingStkPush[]>;
  resolveStkPush(checkoutRequestId: string, outcome: StkResolution): Promise<unknown>;
}

/** The Daraja simulator's process (npm run simulators), through its control routes over HTTP. */
function remoteControl(url: string): SimulatorControl {
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
    const answer: unknown = await response.json();
    if (!response.ok) throw new Error(`the simulators answered ${response.status}: ${JSON.stringify(answer)}`);
    return answer;
  };
  return {
    setOutcome: (phoneNumber, outcome) => call('POST', '/simulator/outcomes', { phoneNumber, outcome }),
    pendingStkPushes: async (phoneNumber) =>
      (await call(
        'GET',
        `/simulator/stk/pending${phoneNumber ? `?phoneNumber=${encodeURIComponent(phoneNumber)}` : ''}`,
      )) as PendingStkPush[],
    resolveStkPush: (checkoutRequestId, outcome) =>
      call('POST', `/simulator/stk/${encodeURIComponent(checkoutRequestId)}/outcome`, { outcome }),
  };
}
