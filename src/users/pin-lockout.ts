import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import { RedisScript } from '../redis/redis-script.js';
import { InjectRedis } from '../redis/redis.tokens.js';
import type { RedisClient } from '../redis/redis-connection.factory.js';

/**
 * Counts PIN attempts in Redis, shared by every API instance and channel (USSD, REST, offline
 * queue checks). An attempt is reserved *before* the PIN is compared, so parallel guesses cannot
 * slip past the limit; a correct PIN clears the counter. After the last allowed failure the key
 * lives for PIN_LOCK_MINUTES and every attempt is refused until it expires.
 *
 * KEYS[1] attempts key; ARGV[1] max attempts; ARGV[2] lock ms.
 * Returns {attempt number, ms left}; attempt > max means locked.
 */
const RESERVE_ATTEMPT = new RedisScript(`
local n = redis.call('INCR', KEYS[1])
local max = tonumber(ARGV[1])
if n > max then
  redis.call('DECR', KEYS[1])
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
  return {n, ttl}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {n, tonumber(ARGV[2])}
`);

export interface AttemptReservation {
  attempt: number;
  locked: boolean;
  msLeft: number;
}

@Injectable()
export class PinLockout {
  private readonly maxAttempts: number;
  private readonly lockMs: number;

  constructor(
    @InjectRedis() private readonly redis: RedisClient,
    config: ConfigService<AppConfig, true>,
  ) {
    const pin = config.get('pin', { infer: true });
    this.maxAttempts = pin.maxAttempts;
    this.lockMs = pin.lockMinutes * 60_000;
  }

  get max(): number {
    return this.maxAttempts;
  }

  private key(userId: string): string {
    return `pin-attempts:${userId}`;
  }

  async reserve(userId: string): Promise<AttemptReservation> {
    const [attempt, msLeft] = (await RESERVE_ATTEMPT.run(
      this.redis,
      [this.key(userId)],
      [this.maxAttempts, this.lockMs],
    )) as [number, number];
    return { attempt, locked: attempt > this.maxAttempts, msLeft };
  }

  /** Locked now? `msLeft` says for how long. */
  async status(userId: string): Promise<{ locked: boolean; msLeft: number; failures: number }> {
    const key = this.key(userId);
    const [failures, msLeft] = await Promise.all([this.redis.get(key), this.redis.pttl(key)]);
    const n = Number(failures ?? 0);
    return { locked: n >= this.maxAttempts, msLeft: Math.max(0, msLeft), failures: n };
  }

  async clear(userId: string): Promise<void> {
    await this.redis.del(this.key(userId));
  }
}
