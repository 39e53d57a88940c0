import { Injectable } from '@nestjs/common';
import { DomainError } from '../common/domain-error.js';
import { RedisScript } from './redis-script.js';
import { InjectRedis } from './redis.tokens.js';
import type { RedisClient } from './redis-connection.factory.js';

/**
 * Lua that counts one hit on the fixed-window counter KEYS[1] (window ARGV[1] ms), leaving `n`
 * (hits in the window, this one included) and `left` (ms until the window ends). The start of
 * every script that counts a hit: the limiter's own, and any that does more in the same round trip.
 */
export const COUNT_HIT_LUA = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
`;

/**
 * Fixed-window counters in Redis, so a limit holds across every API instance.
 * KEYS[1] counter; ARGV[1] window ms. Returns {count, ms left in the window}.
 */
const HIT = new RedisScript(`${COUNT_HIT_LUA}
return {n, left}
`);

/** The counter of `subject` in `bucket`, tagged with subjectTag(subject). */
export function rateKey(bucket: string, subject: string): string {
  return `rate:${bucket}:${subjectTag(subject)}`;
}

/** RATE_LIMITED (429) once a hit is the (limit + 1)th of its window; null while within the limit. */
export function overLimit(count: number, msLeft: number, limit: number): DomainError | null {
  if (count <= limit) return null;
  return new DomainError('REQUEST.RATE_LIMITED', 'rate_limited', 'Too many requests; try again later', {
    retryAfterSeconds: Math.max(1, Math.ceil(msLeft / 1000)),
  });
}

/**
 * The hash tag a key about `subject` carries to share the rate counter's Redis Cluster slot, so
 * that a script counting a hit can read or write it too (a USSD step's): `{subject}`.
 */
export function subjectTag(subject: string): string {
  return `{${subject}}`;
}

@Injectable()
export class RateLimiter {
  constructor(@InjectRedis() private readonly redis: RedisClient) {}

  /** Counts one hit; throws RATE_LIMITED (429) once `limit` hits fell in the current window. */
  async hit(bucket: string, subject: string, limit: number, windowMs: number): Promise<void> {
    const [count, msLeft] = (await HIT.run(this.redis, [rateKey(bucket, subject)], [windowMs])) as [number, number];
    const refusal = overLimit(count, msLeft, limit);
    if (refusal) throw refusal;
  }
}
