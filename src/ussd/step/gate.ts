import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { parseKenyanMobile } from '../../common/phone-number.js';
import type { AppConfig } from '../../config/app-config.js';
import type { Language } from '../../common/language.js';
import type { UserIdentity } from '../../users/user-identity.cache.js';
import { UsersService } from '../../users/users.service.js';
import type { InboundUssd } from '../dialects.js';
import { UssdSessionStore, type OpenedSession, type ResumeOffer } from '../ussd-session.store.js';
import { refusal, type HandledUssd, type Known } from './refusal.js';

/** What a new session needs besides its own: the phone's resume offer and who the number is. */
export interface DialReads {
  /** The journey a lost session of this phone left mid-way, and whether an offer exists at all. */
  offer: ResumeOffer;
  /** The identity cache's entry for the number (null: PostgreSQL must say, or register them). */
  identity: UserIdentity | null;
}

/** A request let in: its number, its session under lock, and, for what may be a dial, its DialReads. */
export interface Admitted extends OpenedSession {
  kind: 'admitted';
  msisdn: string;
  dial?: DialReads;
}

export type Gated = Admitted | { kind: 'refused'; handled: HandledUssd };

/**
 * Whether a request may open a session, as far as it can tell: the gateway says so (Hubtel, Nalo,
 * Arkesel), or it cannot say (Africa's Talking, generic), where a request with text may be a
 * continuing step or a shortcut dial (`*383*1#`: text already typed). Those read their DialReads
 * in the gate too: two GETs inside the step's opening script, which a continuing step discards,
 * cost no command and no round trip, where a shortcut dial would otherwise wait for one more.
 */
function mayBeDial(inbound: InboundUssd): boolean {
  return inbound.isNewSession ?? true;
}

/**
 * The way into a USSD step: the phone parsed once; then the rate limit, the session's lock and
 * the session, and on what may be a dial the resume offer and the cached identity, in one script
 * (one command, one round trip to Redis). Answers with a refusal screen, or the session under its lock.
 */
@Injectable()
export class UssdGate {
  private readonly settings: AppConfig['ussd'];

  constructor(
    private readonly sessions: UssdSessionStore,
    private readonly users: UsersService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('ussd', { infer: true });
  }

  async open(inbound: InboundUssd, known: Known): Promise<Gated> {
    const phone = parseKenyanMobile(inbound.phoneNumber);
    if (!phone.ok) return this.refused('error.badNumber', undefined);
    const msisdn = phone.msisdn;
    const dial = mayBeDial(inbound);
    // The DialReads' keys share the phone's slot: read in the same script.
    const alongside = dial ? [this.sessions.resumeKey(msisdn), this.users.identityKey(msisdn)] : [];
    const { refusal, opened, seen, values } = await this.sessions.open(
      msisdn,
      inbound.sessionId,
      { bucket: 'ussd-phone', perWindow: this.settings.rateLimitPerMinute, windowMs: 60_000 },
      alongside,
    );
    // A session still going knows the language it started in.
    if (seen && !seen.ended && seen.language) known.language = seen.language;
    const reads: DialReads | undefined = dial
      ? {
          offer: this.sessions.resumableFrom(values[0], inbound.sessionId),
          identity: this.users.identityFrom(msisdn, values[1]),
        }
      : undefined;
    if (refusal || !opened) {
      return this.refused(
        refusal ? 'error.rateLimited' : 'error.generic',
        known.language ?? reads?.identity?.language ?? (await this.cachedLanguage(msisdn, undefined)),
      );
    }
    return { kind: 'admitted', msisdn, ...opened, dial: reads };
  }

  /**
   * The resume offer and the cached identity, in parallel: with the lock when a request may be a
   * dial, or after it when the gateway said "continuing" of a session Deni no longer has.
   */
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
