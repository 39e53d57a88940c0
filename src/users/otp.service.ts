import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DomainError } from '../common/domain-error.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectRedis } from '../redis/redis.tokens.js';
import type { RedisClient } from '../redis/redis-connection.factory.js';

/**
 * Counts one try and returns the stored code's MAC, or nothing when there is no live code or the
 * tries are used up (then the code is gone). KEYS[1] hash; ARGV[1] max tries.
 */
const TAKE_TRY = `
local mac = redis.call('HGET', KEYS[1], 'mac')
if not mac then return false end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
if tries > tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]); return false end
return mac
`;

export const OtpErrors = {
  invalid: () =>
    new DomainError('OTP.INVALID', 'unauthorized', 'The code is wrong, used up or expired; ask for a new one'),
};

/** Six-digit one-time codes for onboarding without USSD: stored as a keyed MAC, never in clear. */
@Injectable()
export class OtpService {
  private readonly settings: AppConfig['otp'];
  private readonly pepper: string;

  constructor(
    @InjectRedis() private readonly redis: RedisClient,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('otp', { infer: true });
    this.pepper = config.get('security', { infer: true }).pinPepper;
  }

  get ttlSeconds(): number {
    return this.settings.ttlSeconds;
  }

  private mac(msisdn: string, code: string): string {
    return createHmac('sha256', this.pepper).update(`otp:${msisdn}:${code}`).digest('base64url');
  }

  /** A new code for this number, replacing any earlier one. */
  async issue(msisdn: string): Promise<string> {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const key = `otp:${msisdn}`;
    await this.redis
      .multi()
      .del(key)
      .hset(key, 'mac', this.mac(msisdn, code), 'tries', 0)
      .pexpire(key, this.settings.ttlSeconds * 1000)
      .exec();
    return code;
  }

  /** Consumes the code when it matches; every try counts, and the last failing one burns it. */
  async verify(msisdn: string, code: unknown): Promise<void> {
    const key = `otp:${msisdn}`;
    const stored = (await this.redis.eval(TAKE_TRY, 1, key, this.settings.maxAttempts)) as string | null;
    if (!stored || typeof code !== 'string' || !/^\d{6}$/.test(code)) throw OtpErrors.invalid();
    const expected = Buffer.from(stored);
    const actual = Buffer.from(this.mac(msisdn, code));
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) throw OtpErrors.invalid();
    await this.redis.del(key);
  }
}
