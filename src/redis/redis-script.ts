import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-connection.factory.js';

/**
 * A Lua script run by its digest (EVALSHA): Redis neither receives nor hashes the body on every
 * call, which matters for the scripts of every USSD step. When Redis does not know the script
 * (first use, a restart, a failover) it is sent once with EVAL, which also loads it.
 * Keys get the client's prefix like those of any command.
 */
export class RedisScript {
  private readonly sha: string;

  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: RedisClient, keys: readonly string[], args: readonly (string | number)[] = []): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
