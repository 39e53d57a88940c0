import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import { RedisScript } from '../redis/redis-script.js';
import { InjectRedis } from '../redis/redis.tokens.js';
import type { RedisClient } from '../redis/redis-connection.factory.js';

/**
 * Counts wrong PINs in Redis, shared by every API instance and channel (USSD, REST, offline queue
 * checks). The PIN is compared first, in this process, and the attempt is then recorded with its
 * verdict in one script: refused while the limit is reached (whatever the verdict, so a refused
 * guess says nothing), otherwise a right PIN clears the count and a wrong one adds to it. Parallel
 * guesses cannot get past the limit: the script takes them one at a time. And nothing is counted
 * before the verdict is known, so a check cut short (the process killed, Redis gone, a command
 * that timed out and reaches Redis later) never counts a right PIN as wrong. After the last allowed
 * failure the key lives for PIN_LOCK_MINUTES and every attempt is refused until it expires.
 *
 * KEYS[1] failures key; ARGV[1] max failures; ARGV[2] lock ms; ARGV[3] '1' when the PIN was right.
 * Returns {attempt number, ms left}; attempt > max means refused (locked).
 */
const RECORD_ATTEMPT = new RedisScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local max = tonumber(ARGV[1])
if n >= max then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
  return {n + 1, ttl}
end
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
  return {n + 1, 0}
end
n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {n, tonumber(ARGV[2])}
`);

export interface RecordedAttempt {
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

  /** Records an attempt whose PIN was `right` (or not); refused, whatever the verdict, while locked. */
  async attempt(userId: string, right: boolean): Promise<RecordedAttempt> {
    const [attempt, msLeft] = (await RECORD_ATTEMPT.run(
      this.redis,
      [this.key(userId)],
      [this.maxAttempts, this.lockMs, right ? '1' : '0'],
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
