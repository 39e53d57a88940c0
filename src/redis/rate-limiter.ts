import { Injectable } from '@nestjs/common';
import { DomainError } from '../common/domain-error.js';
import { RedisScript } from './redis-script.js';
import { InjectRedis } from './redis.tokens.js';
import type { RedisClient } from './redis-connection.factory.js';

/**
 * Fixed-window counters in Redis, so a limit holds across every API instance.
 * KEYS[1] counter; ARGV[1] window ms. Returns {count, ms left in the window}.
 */
const HIT = new RedisScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
`);

@Injectable()
export class RateLimiter {
  constructor(@InjectRedis() private readonly redis: RedisClient) {}

  /** Counts one hit; throws RATE_LIMITED (429) once `limit` hits fell in the current window. */
  async hit(bucket: string, subject: string, limit: number, windowMs: number): Promise<void> {
    const [count, msLeft] = (await HIT.run(this.redis, [`rate:${bucket}:${subject}`], [windowMs])) as [number, number];
    if (count > limit) {
      throw new DomainError('REQUEST.RATE_LIMITED', 'rate_limited', 'Too many requests; try again later', {
        retryAfterSeconds: Math.max(1, Math.ceil(msLeft / 1000)),
      });
    }
  }
}
