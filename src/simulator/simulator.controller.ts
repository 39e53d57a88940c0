import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { IsIn, IsString, MaxLength } from 'class-validator';
import { DomainError } from '../common/domain-error.js';
import type { AppConfig } from '../config/app-config.js';
import { SIMULATOR_OUTCOMES, type SimulatorOutcome } from '../mpesa/simulator/daraja-simulator.js';
import { DarajaSimulatorHost } from '../mpesa/simulator/daraja-simulator.host.js';
import { NotificationsQuery, NotificationView } from '../notifications/admin-notifications.controller.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { toMsisdn } from '../users/phone-number.js';

export class SimulatorOutcomeDto {
  @ApiProperty({ example: '0712345678' })
  @IsString()
  @MaxLength(20)
  phoneNumber!: string;

  @ApiProperty({ enum: SIMULATOR_OUTCOMES, example: 'cancelled' })
  @IsIn(SIMULATOR_OUTCOMES)
  outcome!: SimulatorOutcome;
}

/**
 * The phone simulator's own routes (development only: SimulatorModule is loaded only when
 * SIMULATOR_ENABLED is on). They give the browser page, and `npm run dial`, what it would
 * otherwise need the admin key for: a number's SMS, and the next simulated M-PESA outcome.
 */
@ApiTags('simulator')
@Controller('simulator/api')
export class SimulatorController {
  private readonly serviceCode: string;
  private readonly mpesaSimulated: boolean;

  constructor(
    private readonly notifications: NotificationsService,
    private readonly daraja: DarajaSimulatorHost,
    config: ConfigService<AppConfig, true>,
  ) {
    this.serviceCode = config.get('ussd', { infer: true }).serviceCode;
    this.mpesaSimulated = !config.get('mpesa', { infer: true }).baseUrl && !config.get('isProduction', { infer: true });
  }

  @Get('config')
  @ApiOperation({ summary: 'What the simulator page needs: the USSD code, and the simulated M-PESA outcomes (development only)' })
  info() {
    return { serviceCode: this.serviceCode, mpesaSimulated: this.mpesaSimulated, outcomes: SIMULATOR_OUTCOMES };
  }

  @Get('sms')
  @ApiOperation({ summary: "A number's SMS outbox, newest first (development only: SIMULATOR_ENABLED)" })
  @ApiOkResponse({ type: [NotificationView] })
  async sms(@Query() query: NotificationsQuery): Promise<Pick<NotificationView, 'id' | 'template' | 'body' | 'status' | 'createdAt'>[]> {
    const rows = await this.notifications.listForPhone(toMsisdn(query.phoneNumber), query.limit ?? 20);
    return rows.map((n) => ({ id: n.id, template: n.template, body: n.body, status: n.status, createdAt: n.createdAt }));
  }

  @Post('mpesa/outcome')
  @HttpCode(200)
  @ApiOperation({
    summary:
      "Sets how the in-process Daraja simulator answers this number's next STK push (top-up) or B2C (withdrawal); it stays until changed (development only)",
  })
  async outcome(@Body() body: SimulatorOutcomeDto) {
    const phoneNumber = toMsisdn(body.phoneNumber);
    if (!this.mpesaSimulated) {
      throw new DomainError('SIMULATOR.MPESA_NOT_SIMULATED', 'conflict', 'M-PESA is not simulated here (MPESA_BASE_URL is set)');
    }
    (await this.daraja.simulator()).setOutcome(phoneNumber, body.outcome);
    return { phoneNumber, outcome: body.outcome };
  }
}
