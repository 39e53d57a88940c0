import { Injectable } from '@nestjs/common';
import { subjectTag } from '../redis/rate-limiter.js';
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

  /**
   * The entry's key. The number is a hash tag: a rate counter of the number shares its Redis
   * Cluster slot, and a USSD dial reads the entry in the script that counts it (UssdSessionStore.open).
   */
  key(msisdn: string): string {
    return `user:identity:${subjectTag(msisdn)}`;
  }

  async get(msisdn: string): Promise<UserIdentity | null> {
    return this.parse(msisdn, await this.redis.get(this.key(msisdn)));
  }

  /** An entry as read from key(msisdn) by whoever read it: null when there is none (or it is unreadable). */
  parse(msisdn: string, raw: string | null): UserIdentity | null {
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
