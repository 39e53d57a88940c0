import { Injectable } from '@nestjs/common';
import { DomainError } from '../common/domain-error.js';
import { RedisScript } from './redis-script.js';
import { InjectRedis } from './redis.tokens.js';
import type { RedisClient } from './redis-connection.factory.js';

/**
 * Fixed-window counters in Redis, so a limit holds across every API instance.
 * KEYS[1] counter, KEYS[2..] keys read alongside; ARGV[1] window ms.
 * Returns {count, ms left in the window, the value of each key read alongside (nil if none)}.
 */
const HIT = new RedisScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local out = {n, redis.call('PTTL', KEYS[1])}
for i = 2, #KEYS do out[i + 1] = redis.call('GET', KEYS[i]) end
return out
`);

/** A hit counted: whether it went over the limit (the refusal to throw), and what was read alongside. */
export interface Counted {
  refusal: DomainError | null;
  values: (string | null)[];
}

/**
 * The hash tag a key about `subject` carries to share the rate counter's Redis Cluster slot, so
 * that countAndRead can read it in the counter's script: `{subject}`.
 */
export function subjectTag(subject: string): string {
  return `{${subject}}`;
}

@Injectable()
export class RateLimiter {
  constructor(@InjectRedis() private readonly redis: RedisClient) {}

  /** Counts one hit; throws RATE_LIMITED (429) once `limit` hits fell in the current window. */
  async hit(bucket: string, subject: string, limit: number, windowMs: number): Promise<void> {
    const { refusal } = await this.countAndRead(bucket, subject, limit, windowMs, []);
    if (refusal) throw refusal;
  }

  /**
   * Counts one hit and, in the same script, reads `alongside`: keys tagged with subjectTag(subject),
   * which one Redis Cluster node holds with the counter. A caller that needs both waits for one
   * round trip. Over the limit, the refusal is returned (not thrown) with the values.
   */
  async countAndRead(
    bucket: string,
    subject: string,
    limit: number,
    windowMs: number,
    alongside: readonly string[],
  ): Promise<Counted> {
    const [count, msLeft, ...values] = (await HIT.run(
      this.redis,
      [`rate:${bucket}:${subjectTag(subject)}`, ...alongside],
      [windowMs],
    )) as [number, number, ...(string | null)[]];
    // A key with no value is Lua's false in the script, nil (null) in the answer.
    const read = alongside.map((_, i) => values[i] ?? null);
    if (count <= limit) return { refusal: null, values: read };
    return {
      refusal: new DomainError('REQUEST.RATE_LIMITED', 'rate_limited', 'Too many requests; try again later', {
        retryAfterSeconds: Math.max(1, Math.ceil(msLeft / 1000)),
      }),
      values: read,
    };
  }
}
