import { Injectable } from '@nestjs/common';
import { InjectRedis } from '../redis/redis.tokens.js';
import type { RedisClient } from '../redis/redis-connection.factory.js';
import type { Language } from '../common/language.js';

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
 * deleted; every change of the language rewrites the entry after it commits, and a fill from an
 * earlier read never overwrites one, so an entry is not left stale.
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

  /**
   * Caches what was read from PostgreSQL, unless an entry is there already: a language change
   * that committed after that read has written its own entry, which must win.
   */
  async fill(user: UserIdentity): Promise<void> {
    await this.redis.set(this.key(user.phoneNumber), `${user.id} ${user.language}`, 'EX', TTL_SECONDS, 'NX');
  }

  /** After a change of the user's row has committed: replaces whatever is cached. */
  async replace(user: UserIdentity): Promise<void> {
    await this.redis.set(this.key(user.phoneNumber), `${user.id} ${user.language}`, 'EX', TTL_SECONDS);
  }
}
