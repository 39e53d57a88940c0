import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import type { RedisClient } from '../redis/redis-connection.factory.js';
import { subjectTag } from '../redis/rate-limiter.js';
import { RedisScript } from '../redis/redis-script.js';
import { InjectRedis } from '../redis/redis.tokens.js';
import type { GatewayName, UssdReply } from './dialects.js';
import type { JourneyState } from './engine/journey-engine.js';
import type { ScreenId } from './engine/types.js';
import type { Language } from '../common/language.js';

/** One USSD session, kept in Redis between a subscriber's requests (TTL refreshed on each). */
export interface UssdSession {
  id: string;
  gateway: GatewayName;
  phoneNumber: string;
  userId: string;
  /**
   * The subscriber's language when the session started: continuing steps need no database
   * lookup to know who is dialling (choosing a language ends the session).
   */
  language?: Language;
  journey: JourneyState;
  /**
   * What the gateway sent last, to tell a retry from a new answer. For Africa's Talking, the
   * length and a hash of the accumulated text (which contains PINs, so it is never stored).
   */
  lastText?: { length: number; hash: string };
  lastRequestId?: string;
  lastReply?: UssdReply;
  screen: ScreenId;
  /** Requests handled in this session: with the nonce, part of the idempotency keys of its writes. */
  step: number;
  /** Random per session: keys stay unique even where a gateway reuses session ids (Nalo). */
  nonce: string;
  /** When this session was last put in the index of active sessions (it is not re-put on every step). */
  indexedAt?: number;
  /** Whether the phone's resume offer may be this session's (so that a step that leaves nothing to resume drops it). */
  resumeHeld?: boolean;
  /** The journey ended (END was sent); kept only to answer a redelivered request again. */
  ended?: boolean;
  createdAt: number;
  updatedAt: number;
}

/** The journey a lost session of a phone left mid-way (null: none, or the asking session's own), and whether an offer exists at all. */
export interface ResumeOffer {
  journey: JourneyState | null;
  held: boolean;
}

/** A session's lock, held for one request. Released once: by the save of the step, or else by release(). */
export interface SessionLock {
  readonly token: string;
  released: boolean;
  release(): Promise<void>;
}

/** KEYS lock; ARGV token. */
const RELEASE = new RedisScript(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
);
/** KEYS lock, session; ARGV token, lock ms. The lock, and if it was free, the session: {1, session?} or {0}. */
const LOCK_AND_READ = new RedisScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return {1, redis.call('GET', KEYS[2])} end
return {0}
`);
/** KEYS session, lock; ARGV session, ttl ms, token. Saves, then releases the lock if still ours. */
const SAVE_AND_RELEASE = new RedisScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
`);
const LOCK_MS = 10_000;

/** A session opened for one request: its lock, and the session as read under it. */
export interface OpenedSession {
  lock: SessionLock;
  session: UssdSession | null;
  /**
   * The session as read, once more: nobody else saves it while the lock is held, so a step run
   * again (offline, after an online attempt that changed its copy) needs no second read.
   */
  asRead(): UssdSession | null;
}

function opened(lock: SessionLock, raw: string | null | undefined): OpenedSession {
  const parse = () => (raw ? (JSON.parse(raw) as UssdSession) : null);
  return { lock, session: parse(), asRead: parse };
}
/**
 * A session's place in the index is refreshed at most this often, not on every step: the index
 * only serves the monitoring endpoints, and a command less per step is worth more than a count
 * that may include a session lost in the last half minute.
 */
const INDEX_REFRESH_MS = 30_000;

@Injectable()
export class UssdSessionStore {
  private readonly ttlMs: number;
  private readonly resumeMs: number;

  constructor(
    @InjectRedis() private readonly redis: RedisClient,
    config: ConfigService<AppConfig, true>,
  ) {
    const ussd = config.get('ussd', { infer: true });
    this.ttlMs = ussd.sessionTtlSeconds * 1000;
    this.resumeMs = ussd.resumeSeconds * 1000;
  }

  // The session and its lock share a hash tag: on Redis Cluster they live on one node, so the
  // commands of a step that touch both are applied in the order they were sent.
  private key(id: string) {
    return `ussd:session:{${id}}`;
  }

  private lockKey(id: string) {
    return `ussd:lock:{${id}}`;
  }

  async get(id: string): Promise<UssdSession | null> {
    const raw = await this.redis.get(this.key(id));
    return raw ? (JSON.parse(raw) as UssdSession) : null;
  }

  /**
   * Takes the session's lock and reads the session, in one script. When the lock is held
   * elsewhere it waits for it, then reads. Returns null when the lock could not be had in time.
   */
  async open(id: string, waitMs = 3_000): Promise<OpenedSession | null> {
    const token = randomUUID();
    const [taken, raw] = (await LOCK_AND_READ.run(this.redis, [this.lockKey(id), this.key(id)], [token, LOCK_MS])) as [
      number,
      string | null | undefined,
    ];
    if (taken === 1) return opened(this.lockFor(id, token), raw);
    const lock = await this.lock(id, waitMs);
    return lock ? opened(lock, await this.redis.get(this.key(id))) : null;
  }

  /**
   * Saves the session and releases the step's lock in one script (the next request of the
   * session cannot read the session as it was before this step), and updates the index of
   * active sessions alongside.
   */
  async save(session: UssdSession, lock?: SessionLock): Promise<void> {
    session.updatedAt = Date.now();
    let index: Promise<unknown> | undefined;
    if (session.ended) {
      if (session.indexedAt !== undefined) index = this.redis.zrem('ussd:index', session.id);
      delete session.indexedAt;
    } else if (session.indexedAt === undefined || session.updatedAt - session.indexedAt >= INDEX_REFRESH_MS) {
      session.indexedAt = session.updatedAt;
      index = this.redis.zadd('ussd:index', session.updatedAt, session.id);
    }
    const json = JSON.stringify(session);
    if (lock && !lock.released) {
      lock.released = true;
      await Promise.all([
        SAVE_AND_RELEASE.run(
          this.redis,
          [this.key(session.id), this.lockKey(session.id)],
          [json, this.ttlMs, lock.token],
        ),
        index,
      ]);
    } else {
      await Promise.all([this.redis.set(this.key(session.id), json, 'PX', this.ttlMs), index]);
    }
  }

  async delete(id: string): Promise<void> {
    await Promise.all([this.redis.del(this.key(id)), this.redis.zrem('ussd:index', id)]);
  }

  private lockFor(id: string, token: string): SessionLock {
    const redis = this.redis;
    const key = this.lockKey(id);
    return {
      token,
      released: false,
      async release() {
        if (this.released) return;
        this.released = true;
        await RELEASE.run(redis, [key], [token]);
      },
    };
  }

  /**
   * Serialises the requests of one session across every instance: a short lock in Redis.
   * Returns the lock (its release is idempotent), or null when it could not be had in time.
   */
  private async lock(id: string, waitMs: number): Promise<SessionLock | null> {
    const token = randomUUID();
    const deadline = Date.now() + waitMs;
    for (;;) {
      if ((await this.redis.set(this.lockKey(id), token, 'PX', LOCK_MS, 'NX')) === 'OK') return this.lockFor(id, token);
      if (Date.now() > deadline) return null;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Active sessions, newest activity first (entries whose key expired are pruned). */
  async list(limit = 200): Promise<UssdSession[]> {
    const now = Date.now();
    await this.redis.zremrangebyscore('ussd:index', 0, now - this.ttlMs - INDEX_REFRESH_MS);
    const ids = await this.redis.zrevrange('ussd:index', 0, limit - 1);
    const sessions = await Promise.all(ids.map((id) => this.get(id)));
    return sessions
      .filter((s): s is UssdSession => s !== null && !s.ended && s.updatedAt >= now - this.ttlMs)
      .sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /** Sessions with activity within the TTL (give or take INDEX_REFRESH_MS: a gauge, not a ledger). */
  async countActive(): Promise<number> {
    return this.redis.zcount('ussd:index', String(Date.now() - this.ttlMs - INDEX_REFRESH_MS), '+inf');
  }

  async clear(): Promise<number> {
    const ids = await this.redis.zrange('ussd:index', '0', '-1');
    await Promise.all(ids.map((id) => this.redis.del(this.key(id))));
    await this.redis.del('ussd:index');
    return ids.length;
  }

  /** A journey left mid-way, offered again if the same phone dials within USSD_RESUME_SECONDS. */
  async saveResumable(phoneNumber: string, sessionId: string, journey: JourneyState): Promise<void> {
    if (this.resumeMs <= 0) return;
    await this.redis.set(
      this.resumeKey(phoneNumber),
      JSON.stringify({ sessionId, journey }),
      'PX',
      this.ttlMs + this.resumeMs,
    );
  }

  /**
   * The phone's resume offer. The number is a hash tag: the phone's rate counter shares its Redis
   * Cluster slot, and a dial reads the offer in the counter's script (RateLimiter.countAndRead).
   */
  resumeKey(phoneNumber: string): string {
    return `ussd:resume:${subjectTag(phoneNumber)}`;
  }

  /**
   * The journey a new session of this phone may resume (not one of its own), and whether an
   * offer exists at all (to be dropped once the new session moves on).
   */
  async takeResumable(phoneNumber: string, newSessionId: string): Promise<ResumeOffer> {
    return this.resumableFrom(await this.redis.get(this.resumeKey(phoneNumber)), newSessionId);
  }

  /** takeResumable, from the offer as read from resumeKey() by whoever read it. */
  resumableFrom(raw: string | null, newSessionId: string): ResumeOffer {
    if (!raw) return { journey: null, held: false };
    const saved = JSON.parse(raw) as { sessionId: string; journey: JourneyState };
    return { journey: saved.sessionId === newSessionId ? null : saved.journey, held: true };
  }

  async dropResumable(phoneNumber: string): Promise<void> {
    await this.redis.del(this.resumeKey(phoneNumber));
  }
}
