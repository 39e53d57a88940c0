import { Body, Controller, HttpCode, Ip, Post } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiAcceptedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AppConfig } from '../config/app-config.js';
import { AuthService } from './auth.service.js';
import { LoginDto, OtpSentDto, PinSetDto, RequestOtpDto, SetPinDto, TokenDto } from './dto/auth.dto.js';

@ApiTags('auth')
@Controller('api/auth')
export class AuthController {
  private readonly otpPerHour: number;

  constructor(
    private readonly auth: AuthService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.otpPerHour = config.get('otp', { infer: true }).maxPerHour;
  }

  @Post('otp')
  @HttpCode(202)
  @ApiOperation({ summary: 'Send a 6-digit one-time code by SMS (expires in 5 minutes, 3 tries, rate-limited)' })
  @ApiAcceptedResponse({ type: OtpSentDto })
  async requestOtp(@Body() body: RequestOtpDto, @Ip() ip: string): Promise<OtpSentDto> {
    const { expiresInSeconds } = await this.auth.requestOtp(body.phoneNumber, ip, this.otpPerHour);
    return { sent: true, expiresInSeconds };
  }

  @Post('pin')
  @HttpCode(200)
  @ApiOperation({ summary: 'Set the PIN of a number that has none or whose PIN is locked, with the SMS code' })
  @ApiOkResponse({ type: PinSetDto })
  async setPin(@Body() body: SetPinDto): Promise<PinSetDto> {
    await this.auth.setPin(body.phoneNumber, body.otp, body.pin);
    return { pinSet: true };
  }

  @Post('login')
  @HttpCode(200)
  @ApiOperation({ summary: 'Exchange phone number and PIN for a short-lived bearer token' })
  @ApiOkResponse({ type: TokenDto })
  login(@Body() body: LoginDto, @Ip() ip: string): Promise<TokenDto> {
    return this.auth.login(body.phoneNumber, body.pin, ip);
  }
}
