import { Injectable } from '@nestjs/common';
import { TokenService, type IssuedToken } from '../auth/token.service.js';
import { TransactionService } from '../database/transaction.service.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { RateLimiter } from '../redis/rate-limiter.js';
import { OtpService } from './otp.service.js';
import { toMsisdn } from '../common/phone-number.js';
import { UserErrors } from './users.errors.js';
import { UsersService } from './users.service.js';

const HOUR_MS = 3_600_000;
const OTP_REQUESTS_PER_IP_PER_HOUR = 30;
const LOGINS_PER_IP_PER_10_MIN = 30;

/** Onboarding and sign-in for the web and mobile clients. */
@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersService,
    private readonly otp: OtpService,
    private readonly tokens: TokenService,
    private readonly notifications: NotificationsService,
    private readonly transactions: TransactionService,
    private readonly rateLimiter: RateLimiter,
  ) {}

  /** Sends a one-time code by SMS (through the outbox). Rate-limited per number and per address. */
  async requestOtp(phoneNumber: string, ip: string, maxPerHour: number): Promise<{ expiresInSeconds: number }> {
    const msisdn = toMsisdn(phoneNumber);
    await this.rateLimiter.hit('otp-ip', ip, OTP_REQUESTS_PER_IP_PER_HOUR, HOUR_MS);
    await this.rateLimiter.hit('otp-phone', msisdn, maxPerHour, HOUR_MS);
    // Registers the number, without a wallet: that is opened by the first dial (onboarding) or the
    // first money movement (every money path opens wallets get-or-create).
    const user = await this.users.findOrRegister(msisdn);
    const code = await this.otp.issue(msisdn);
    await this.transactions.run((tx) =>
      this.notifications.notify(tx, {
        phoneNumber: msisdn,
        language: user.language,
        template: 'auth.otp',
        params: { code, minutes: Math.round(this.otp.ttlSeconds / 60) },
      }),
    );
    return { expiresInSeconds: this.otp.ttlSeconds };
  }

  /** Sets the PIN of a number that has none, or whose PIN is locked, after the code checks out. */
  async setPin(phoneNumber: string, otp: string, pin: string): Promise<void> {
    const msisdn = toMsisdn(phoneNumber);
    const user = await this.users.findByPhone(msisdn);
    await this.otp.verify(msisdn, otp);
    if (!user) throw UserErrors.notFound();
    await this.users.resetPin(user.id, pin);
  }

  /**
   * A short-lived bearer token for the right PIN (the PIN lockout applies). Limited per address
   * too: the lockout counts per number, and someone trying a few PINs on many numbers must not
   * lock them all (each lock also sends an SMS).
   */
  async login(phoneNumber: string, pin: string, ip: string): Promise<IssuedToken> {
    await this.rateLimiter.hit('login-ip', ip, LOGINS_PER_IP_PER_10_MIN, 10 * 60_000);
    const msisdn = toMsisdn(phoneNumber);
    const user = await this.users.findByPhone(msisdn);
    if (!user) throw UserErrors.pinNotSet();
    await this.users.verifyPin(user.id, pin);
    return this.tokens.issue({ userId: user.id, phoneNumber: user.phoneNumber });
  }
}
