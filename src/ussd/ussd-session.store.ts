import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import type { RedisClient } from '../redis/redis-connection.factory.js';
import type { DomainError } from '../common/domain-error.js';
import { COUNT_HIT_LUA, overLimit, rateKey, subjectTag } from '../redis/rate-limiter.js';
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
/**
 * The way into a step, in one script. KEYS the phone's rate counter, the session's lock, the
 * session, then keys read alongside; ARGV window ms, limit, token, lock ms. Counts the hit; within
 * the limit, takes the lock if it is free. Returns {count, ms left in the window, 1 if the lock was
 * taken else 0, the session, the value of each key read alongside}: the session is read whatever
 * happens (a refusal is told in the session's language), and is the one under the lock when taken.
 */
const COUNT_LOCK_AND_READ = new RedisScript(`${COUNT_HIT_LUA}
local out = {n, left, 0, redis.call('GET', KEYS[3])}
if n <= tonumber(ARGV[2]) and redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4], 'NX') then out[3] = 1 end
for i = 4, #KEYS do out[i + 1] = redis.call('GET', KEYS[i]) end
return out
`);
/**
 * KEYS session, lock, the phone's resume offer; ARGV session, ttl ms, token, what to do with the
 * offer ('keep', 'drop', or 'hold' with the offer and its ttl ms). Saves the session, keeps, drops
 * or replaces the offer, then releases the lock if still ours.
 */
const SAVE_AND_RELEASE = new RedisScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[4] == 'hold' then redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[6])
elseif ARGV[4] == 'drop' then redis.call('DEL', KEYS[3]) end
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

/** The phone's rate limit, as a step counts against it. */
export interface StepLimit {
  bucket: string;
  perWindow: number;
  windowMs: number;
}

/** What opening a step found: the rate limit's verdict, the session, and the keys read alongside. */
export interface OpenedStep {
  /** RATE_LIMITED when over the limit (nothing was locked). */
  refusal: DomainError | null;
  /** The session under its lock; null when refused, or when the lock could not be had in time. */
  opened: OpenedSession | null;
  /** The session as read, locked or not: to answer a refusal in its language. */
  seen: UssdSession | null;
  /** The value of each key read alongside (null: none). */
  values: (string | null)[];
}

/** What a step's save does with the phone's resume offer: keeps it, drops it, or holds this session's journey. */
export type ResumeChange = 'keep' | 'drop' | { hold: JourneyState };

/** `session` parsed from `raw` already, or parsed here; asRead() parses it again, for a copy of its own. */
function opened(lock: SessionLock, raw: string | null | undefined, session = parseSession(raw)): OpenedSession {
  return { lock, session, asRead: () => parseSession(raw) };
}

function parseSession(raw: string | null | undefined): UssdSession | null {
  return raw ? (JSON.parse(raw) as UssdSession) : null;
}

/**
 * A session's place in the index is refreshed at most this often, not on every step: the index
 * only serves the monitoring endpoints, and a command less per step is worth more than a count
 * that may include a session lost in the last half minute.
 */
const INDEX_REFRESH_MS = 30_000;

/** A session's entry in the index: the phone and the gateway's session id. */
function indexEntry(phoneNumber: string, id: string): string {
  return `${phoneNumber}:${id}`;
}

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

  // A session is the phone's: its key, and its lock's, carry the number as their hash tag, like the
  // phone's rate counter, resume offer and cached identity. On Redis Cluster they all live in one
  // slot, so one script counts, locks and reads at the start of a step, and one saves and releases
  // at its end. The gateway's session id alone names nothing: another phone sending the same id
  // (a gateway reusing ids, or someone guessing one) reaches a session of its own.
  private key(phoneNumber: string, id: string) {
    return `ussd:session:${subjectTag(phoneNumber)}:${id}`;
  }

  private lockKey(phoneNumber: string, id: string) {
    return `ussd:lock:${subjectTag(phoneNumber)}:${id}`;
  }

  async get(phoneNumber: string, id: string): Promise<UssdSession | null> {
    return parseSession(await this.redis.get(this.key(phoneNumber, id)));
  }

  /**
   * Counts the step against the phone's rate limit, takes the session's lock and reads the
   * session, with `alongside` (keys tagged with the number), in one script. When the lock is held
   * elsewhere it waits for it, then reads again; `opened` is null when it could not be had in time.
   */
  async open(
    phoneNumber: string,
    id: string,
    limit: StepLimit,
    alongside: readonly string[],
    waitMs = 3_000,
  ): Promise<OpenedStep> {
    const token = randomUUID();
    const [count, msLeft, taken, raw, ...values] = (await COUNT_LOCK_AND_READ.run(
      this.redis,
      [rateKey(limit.bucket, phoneNumber), this.lockKey(phoneNumber, id), this.key(phoneNumber, id), ...alongside],
      [limit.windowMs, limit.perWindow, token, LOCK_MS],
    )) as [number, number, number, string | null, ...(string | null)[]];
    // A key with no value is Lua's false in the script, nil (null) in the answer.
    const read = alongside.map((_, i) => values[i] ?? null);
    const refusal = overLimit(count, msLeft, limit.perWindow);
    const seen = parseSession(raw);
    if (refusal) return { refusal, opened: null, seen, values: read };
    if (taken === 1) {
      return { refusal, opened: opened(this.lockFor(phoneNumber, id, token), raw, seen), seen, values: read };
    }
    const lock = await this.lock(phoneNumber, id, waitMs);
    const fresh = lock ? opened(lock, await this.redis.get(this.key(phoneNumber, id))) : null;
    return { refusal, opened: fresh, seen: fresh?.session ?? seen, values: read };
  }

  /**
   * Saves the session, changes the phone's resume offer as `resume` says, and releases the step's
   * lock, in one script (the next request of the session cannot read the session as it was before
   * this step); updates the index of active sessions alongside, now and then.
   */
  async save(session: UssdSession, lock: SessionLock, resume: ResumeChange = 'keep'): Promise<void> {
    session.updatedAt = Date.now();
    const entry = indexEntry(session.phoneNumber, session.id);
    let index: Promise<unknown> | undefined;
    if (session.ended) {
      if (session.indexedAt !== undefined) index = this.redis.zrem('ussd:index', entry);
      delete session.indexedAt;
    } else if (session.indexedAt === undefined || session.updatedAt - session.indexedAt >= INDEX_REFRESH_MS) {
      session.indexedAt = session.updatedAt;
      index = this.redis.zadd('ussd:index', session.updatedAt, entry);
    }
    const json = JSON.stringify(session);
    // With no resume window, nothing is ever offered: a journey is not held.
    const change = typeof resume === 'object' && this.resumeMs <= 0 ? 'keep' : resume;
    const offer =
      typeof change === 'object'
        ? ['hold', JSON.stringify({ sessionId: session.id, journey: change.hold }), this.ttlMs + this.resumeMs]
        : [change];
    // Released by this save whatever happens to it: a lock is never released twice.
    const token = lock.released ? '' : lock.token;
    lock.released = true;
    await Promise.all([
      SAVE_AND_RELEASE.run(
        this.redis,
        [
          this.key(session.phoneNumber, session.id),
          this.lockKey(session.phoneNumber, session.id),
          this.resumeKey(session.phoneNumber),
        ],
        [json, this.ttlMs, token, ...offer],
      ),
      index,
    ]);
  }

  async delete(phoneNumber: string, id: string): Promise<void> {
    await Promise.all([
      this.redis.del(this.key(phoneNumber, id)),
      this.redis.zrem('ussd:index', indexEntry(phoneNumber, id)),
    ]);
  }

  private lockFor(phoneNumber: string, id: string, token: string): SessionLock {
    const redis = this.redis;
    const key = this.lockKey(phoneNumber, id);
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
  private async lock(phoneNumber: string, id: string, waitMs: number): Promise<SessionLock | null> {
    const token = randomUUID();
    const deadline = Date.now() + waitMs;
    for (;;) {
      if ((await this.redis.set(this.lockKey(phoneNumber, id), token, 'PX', LOCK_MS, 'NX')) === 'OK') {
        return this.lockFor(phoneNumber, id, token);
      }
      if (Date.now() > deadline) return null;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Active sessions, newest activity first (entries whose key expired are pruned). */
  async list(limit = 200): Promise<UssdSession[]> {
    const now = Date.now();
    await this.redis.zremrangebyscore('ussd:index', 0, now - this.ttlMs - INDEX_REFRESH_MS);
    const entries = await this.redis.zrevrange('ussd:index', 0, limit - 1);
    const sessions = await Promise.all(entries.map((entry) => this.get(...splitEntry(entry))));
    return sessions
      .filter((s): s is UssdSession => s !== null && !s.ended && s.updatedAt >= now - this.ttlMs)
      .sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /** Sessions with activity within the TTL (give or take INDEX_REFRESH_MS: a gauge, not a ledger). */
  async countActive(): Promise<number> {
    return this.redis.zcount('ussd:index', String(Date.now() - this.ttlMs - INDEX_REFRESH_MS), '+inf');
  }

  async clear(): Promise<number> {
    const entries = await this.redis.zrange('ussd:index', '0', '-1');
    await Promise.all(entries.map((entry) => this.redis.del(this.key(...splitEntry(entry)))));
    await this.redis.del('ussd:index');
    return entries.length;
  }

  /**
   * The phone's resume offer: the journey a lost session left mid-way, offered again if the same
   * phone dials within USSD_RESUME_SECONDS. Tagged with the number, as the phone's sessions are.
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
}

/** An index entry's phone and session id (a number has no colon; a session id may). */
function splitEntry(entry: string): [string, string] {
  const at = entry.indexOf(':');
  return [entry.slice(0, at), entry.slice(at + 1)];
}
