import { Injectable } from '@nestjs/common';
import { InjectRedis } from '../redis/redis.tokens.js';
import type { RedisClient } from '../redis/redis-connection.factory.js';

/** Kept as long as a subscriber's offline snapshot can be (USSD_SNAPSHOT_TTL_HOURS' upper bound). */
const TTL_SECONDS = 90 * 24 * 3600;

/**
 * The current PIN hash (the peppered HMAC stored in PostgreSQL, never a PIN) kept in Redis for the
 * offline PIN check while PostgreSQL is down. Written by every PIN change and every successful
 * online check, so an old PIN stops working offline the moment it is replaced.
 */
@Injectable()
export class OfflinePinCache {
  constructor(@InjectRedis() private readonly redis: RedisClient) {}

  private key(userId: string): string {
    return `pin-hash:${userId}`;
  }

  async set(userId: string, hash: string): Promise<void> {
    await this.redis.set(this.key(userId), hash, 'EX', TTL_SECONDS);
  }

  get(userId: string): Promise<string | null> {
    return this.redis.get(this.key(userId));
  }
}
