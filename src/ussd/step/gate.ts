import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { isDomainError } from '../../common/domain-error.js';
import { parseKenyanMobile } from '../../common/phone-number.js';
import type { AppConfig } from '../../config/app-config.js';
import { RateLimiter } from '../../redis/rate-limiter.js';
import type { Language } from '../../common/language.js';
import type { UserIdentity } from '../../users/user-identity.cache.js';
import { UsersService } from '../../users/users.service.js';
import type { InboundUssd } from '../dialects.js';
import type { JourneyState } from '../engine/journey-engine.js';
import { UssdSessionStore, type OpenedSession } from '../ussd-session.store.js';
import { refusal, type HandledUssd, type Known } from './refusal.js';

/** What a new session needs besides its own: the phone's resume offer and who the number is. */
export interface DialReads {
  /** The journey a lost session of this phone left mid-way, and whether an offer exists at all. */
  offer: { journey: JourneyState | null; held: boolean };
  /** The identity cache's entry for the number (null: PostgreSQL must say, or register them). */
  identity: UserIdentity | null;
}

/** A request let in: its number, its session under lock, and, for what looked like a dial, its DialReads. */
export interface Admitted extends OpenedSession {
  kind: 'admitted';
  msisdn: string;
  dial?: DialReads;
}

export type Gated = Admitted | { kind: 'refused'; handled: HandledUssd };

/**
 * Whether a request opens a session, as far as it says so itself: the gateway tells (Hubtel,
 * Nalo, Arkesel), or it carries no text yet (Africa's Talking, generic). A continuing step reads
 * nothing it does not need; a shortcut dial (text already typed) reads its DialReads afterwards.
 */
function looksLikeDial(inbound: InboundUssd): boolean {
  return inbound.isNewSession ?? inbound.text === '';
}

/**
 * The way into a USSD step: the phone parsed once; then the rate limit, the session's lock and
 * the session, and on a dial the resume offer and the cached identity, in one parallel batch (one
 * round trip to Redis). Answers with a refusal screen, or the session under its lock.
 */
@Injectable()
export class UssdGate {
  private readonly settings: AppConfig['ussd'];

  constructor(
    private readonly sessions: UssdSessionStore,
    private readonly rateLimiter: RateLimiter,
    private readonly users: UsersService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('ussd', { infer: true });
  }

  async open(inbound: InboundUssd, known: Known): Promise<Gated> {
    const phone = parseKenyanMobile(inbound.phoneNumber);
    if (!phone.ok) return this.refused('error.badNumber', undefined);
    const msisdn = phone.msisdn;
    const dial = looksLikeDial(inbound);
    const [hit, open, reads] = await Promise.allSettled([
      this.rateLimiter.hit('ussd-phone', msisdn, this.settings.rateLimitPerMinute, 60_000),
      this.sessions.open(inbound.sessionId),
      dial ? this.dialReads(msisdn, inbound.sessionId) : undefined,
    ]);
    const opened = open.status === 'fulfilled' ? open.value : null;
    // A session of this number, still going, knows the language it started in.
    const own = opened?.session;
    if (own && own.phoneNumber === msisdn && !own.ended && own.language) known.language = own.language;
    const limited = hit.status === 'rejected' && isDomainError(hit.reason, 'REQUEST.RATE_LIMITED');
    if (hit.status === 'rejected' && !limited) {
      // Redis failed one of them: the lock, if taken, must not outlive this request.
      await opened?.lock.release().catch(() => undefined);
      throw hit.reason;
    }
    if (open.status === 'rejected') throw open.reason;
    if (limited || !opened) {
      await opened?.lock.release();
      const language =
        known.language ?? (reads.status === 'fulfilled' && reads.value ? reads.value.identity?.language : undefined);
      return this.refused(
        limited ? 'error.rateLimited' : 'error.generic',
        language ?? (await this.cachedLanguage(msisdn, undefined)),
      );
    }
    if (reads.status === 'rejected') {
      await opened.lock.release().catch(() => undefined);
      throw reads.reason;
    }
    return { kind: 'admitted', msisdn, ...opened, dial: reads.value };
  }

  /** The resume offer and the cached identity, in parallel: with the lock on a dial, or after it on a shortcut dial. */
  async dialReads(msisdn: string, sessionId: string): Promise<DialReads> {
    const [offer, identity] = await Promise.all([
      this.sessions.takeResumable(msisdn, sessionId),
      this.users.cachedIdentity(msisdn),
    ]);
    return { offer, identity };
  }

  /**
   * The number's language if the identity cache knows it (from the DialReads when there are any):
   * for refusals before (or instead of) identifying the subscriber, which never wait for
   * PostgreSQL nor register anyone.
   */
  async cachedLanguage(msisdn: string, dial: DialReads | undefined): Promise<Language | undefined> {
    if (dial) return dial.identity?.language;
    return (await this.users.cachedLanguage(msisdn).catch(() => null)) ?? undefined;
  }

  private refused(key: Parameters<typeof refusal>[0], language: Language | undefined): Gated {
    return { kind: 'refused', handled: refusal(key, language, this.settings.maxChars) };
  }
}
