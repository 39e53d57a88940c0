import { Injectable } from '@nestjs/common';
import { InjectRedis } from '../redis/redis.tokens.js';
import type { RedisClient } from '../redis/redis-connection.factory.js';
import type { Language } from './user.entity.js';

/** Who a phone number is: enough to answer a USSD dial without PostgreSQL. */
export interface UserIdentity {
  id: string;
  phoneNumber: string;
  language: Language;
}

/** A day: a subscriber who dials daily is looked up in PostgreSQL once a day. */
const TTL_SECONDS = 24 * 3600;

/**
 * Phone number → user id and language, in Redis. A user's id never changes and users are never
 * deleted; the language is rewritten by every change of it, so an entry is never stale.
 */
@Injectable()
export class UserIdentityCache {
  constructor(@InjectRedis() private readonly redis: RedisClient) {}

  private key(msisdn: string): string {
    return `user:identity:${msisdn}`;
  }

  async get(msisdn: string): Promise<UserIdentity | null> {
    const raw = await this.redis.get(this.key(msisdn));
    if (!raw) return null;
    const [id, language] = raw.split(' ');
    return id && (language === 'en' || language === 'sw') ? { id, phoneNumber: msisdn, language } : null;
  }

  async set(user: UserIdentity): Promise<void> {
    await this.redis.set(this.key(user.phoneNumber), `${user.id} ${user.language}`, 'EX', TTL_SECONDS);
  }
}
