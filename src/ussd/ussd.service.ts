import { createHmac, randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { isDomainError } from '../common/domain-error.js';
import type { AppConfig } from '../config/app-config.js';
import { LoansService } from '../loans/loans.service.js';
import { MpesaService } from '../mpesa/mpesa.service.js';
import { TopUpService } from '../mpesa/top-up.service.js';
import { RateLimiter } from '../redis/rate-limiter.js';
import { parseKenyanMobile } from '../common/phone-number.js';
import { OnboardingService } from '../onboarding/onboarding.service.js';
import { UsersService } from '../users/users.service.js';
import type { Language } from '../common/language.js';
import { WalletService } from '../wallet/wallet.service.js';
import { isDatabaseUnavailable } from '../common/postgres-errors.js';
import { DatabaseAvailability } from '../database/database-availability.js';
import { OnlineBackend } from './backend/online-backend.js';
import { OfflineBackend } from './backend/offline-backend.js';
import type { UssdBackend, UssdUser } from './backend/ussd-backend.js';
import { type InboundUssd, type UssdReply } from './dialects.js';
import { OfflineQueueService } from './offline/offline-queue.service.js';
import { UssdSnapshotStore } from './offline/snapshot.store.js';
import { JourneyEngine, newJourney, type StepResult } from './engine/journey-engine.js';
import { ScreenId, type ScreenContext } from './engine/types.js';
import { inLanguageOrBoth, translator, type BilingualKey } from './i18n/translate.js';
import { fitScreen, toGsm7 } from './engine/screen-text.js';
import { journeyScreens } from './journeys/index.js';
import { offerToResume } from './journeys/main.journey.js';
import { UssdMetrics } from './ussd.metrics.js';
import { UssdSessionStore, type SessionLock, type UssdSession } from './ussd-session.store.js';

export interface HandledUssd {
  reply: UssdReply;
  /** The screen shown (or the last one, for an END), for the seed's test endpoint. */
  screen: ScreenId | 'NONE';
}

/** ioredis's ways of saying Redis is not there (connection refused, closed, timed out, retries spent). */
function redisUnavailable(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: string };
  return (
    e?.name === 'MaxRetriesPerRequestError' ||
    e?.code === 'ECONNREFUSED' ||
    /Command timed out|Connection is closed|Stream isn't writeable|ECONNREFUSED|ETIMEDOUT/.test(e?.message ?? '')
  );
}

/** The online attempt of a step took longer than USSD_DB_DEADLINE_MS. */
class DatabaseDeadline extends Error {
  constructor(ms: number) {
    super(`no answer from the database within ${ms} ms`);
    this.name = 'DatabaseDeadline';
  }
}

/** The online attempt of a step: abandoned at the deadline, unless it is already saving. */
interface OnlineAttempt {
  abandoned: boolean;
  committing: boolean;
}

const NOT_RESUMABLE: ScreenId[] = [ScreenId.Main, ScreenId.Resume, ScreenId.PinNew, ScreenId.PinNewConfirm];

/** What is known of the subscriber so far in a request: once identified, their language. */
interface Known {
  language?: Language;
}

type Plan =
  { kind: 'replay'; reply: UssdReply } | { kind: 'start'; inputs: string[] } | { kind: 'continue'; inputs: string[] };

/**
 * One USSD request, whatever the gateway: rate limit, the session lock, retry detection (a
 * repeated request gets the stored reply and nothing runs twice), then the journey engine.
 * Always answers with a screen: internal errors end the session politely.
 */
@Injectable()
export class UssdService {
  private readonly logger = new Logger(UssdService.name);
  private readonly engine: JourneyEngine;
  private readonly settings: AppConfig['ussd'];
  private readonly loanSettings: AppConfig['loans'];
  private readonly lockMinutes: number;
  private readonly pepper: string;

  constructor(
    private readonly sessions: UssdSessionStore,
    private readonly users: UsersService,
    private readonly onboarding: OnboardingService,
    private readonly loans: LoansService,
    private readonly wallet: WalletService,
    private readonly mpesa: MpesaService,
    private readonly topUps: TopUpService,
    private readonly rateLimiter: RateLimiter,
    private readonly metrics: UssdMetrics,
    private readonly database: DatabaseAvailability,
    private readonly snapshots: UssdSnapshotStore,
    private readonly offlineQueue: OfflineQueueService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('ussd', { infer: true });
    this.loanSettings = config.get('loans', { infer: true });
    this.lockMinutes = config.get('pin', { infer: true }).lockMinutes;
    this.pepper = config.get('security', { infer: true }).pinPepper;
    this.engine = new JourneyEngine(journeyScreens(), this.settings.maxChars);
  }

  async handle(inbound: InboundUssd): Promise<HandledUssd> {
    const started = process.hrtime.bigint();
    // An error answers in the subscriber's language once it is known, and in both before.
    const known: Known = {};
    try {
      const result = await this.handleSafely(inbound, known);
      this.metrics.step(result.screen, result.reply.end ? 'end' : 'continue');
      return result;
    } catch (err) {
      this.metrics.step('NONE', 'error');
      if (redisUnavailable(err)) {
        // Sessions live in Redis: without it no journey can go on, but the phone still gets a screen.
        this.logger.warn({ gateway: inbound.gateway }, `USSD answered "unavailable": ${(err as Error).message}`);
        return this.refusal('error.unavailable', known.language);
      }
      this.logger.error({ err, gateway: inbound.gateway, sessionId: inbound.sessionId }, 'USSD request failed');
      return this.refusal('error.generic', known.language);
    } finally {
      this.metrics.observe(Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /**
   * The END screen for a request no dialect could read (an answer too long, a field missing): in
   * the language of the number it names when the identity cache knows it, else in both.
   */
  async unreadable(body: unknown): Promise<string> {
    const phoneNumber =
      typeof body === 'object' && body !== null ? (body as { phoneNumber?: unknown }).phoneNumber : null;
    const language = typeof phoneNumber === 'string' ? await this.cachedLanguage(phoneNumber) : undefined;
    return this.refusal('error.unreadable', language).reply.message;
  }

  /** A refusal that ends the session, in the subscriber's language if known, else in English and Kiswahili. */
  private refusal(key: BilingualKey, language: Language | undefined): HandledUssd {
    const message = fitScreen(toGsm7(inLanguageOrBoth(language, key)), '', this.settings.maxChars);
    return { reply: { message, end: true }, screen: 'NONE' };
  }

  /**
   * The number's language if the identity cache knows it: for refusals before (or instead of)
   * identifying the subscriber, which never wait for PostgreSQL nor register anyone.
   */
  private async cachedLanguage(phoneNumber: string): Promise<Language | undefined> {
    return (await this.users.cachedLanguage(phoneNumber).catch(() => null)) ?? undefined;
  }

  private async handleSafely(inbound: InboundUssd, known: Known): Promise<HandledUssd> {
    const phone = parseKenyanMobile(inbound.phoneNumber);
    if (!phone.ok) return this.refusal('error.badNumber', undefined);
    const msisdn = phone.msisdn;
    // The rate limit, the session's lock and the session itself: one round trip to Redis.
    const [hit, open] = await Promise.allSettled([
      this.rateLimiter.hit('ussd-phone', msisdn, this.settings.rateLimitPerMinute, 60_000),
      this.sessions.open(inbound.sessionId),
    ]);
    const opened = open.status === 'fulfilled' ? open.value : null;
    // A session of this number, still going, knows the language it started in.
    const own = opened?.session;
    if (own && own.phoneNumber === msisdn && !own.ended && own.language) known.language = own.language;
    const limited = hit.status === 'rejected' && isDomainError(hit.reason, 'REQUEST.RATE_LIMITED');
    if (hit.status === 'rejected' && !limited) {
      // Redis failed one of the two: the lock, if taken, must not outlive this request.
      await opened?.lock.release().catch(() => undefined);
      throw hit.reason;
    }
    if (open.status === 'rejected') throw open.reason;
    if (limited || !opened) {
      await opened?.lock.release();
      const language = known.language ?? (await this.cachedLanguage(msisdn));
      return this.refusal(limited ? 'error.rateLimited' : 'error.generic', language);
    }
    const { lock } = opened;
    try {
      // One per request, shared by both attempts: a new session made online and again offline gets
      // the same idempotency keys, so a write the abandoned online attempt finishes late and the
      // one the offline queue applies are the same write.
      const nonce = randomUUID();
      if (!this.database.isOpen()) {
        // Online, unless PostgreSQL fails or keeps us waiting: then the same step runs again
        // offline from the session as stored (the failed attempt saved nothing). A write it may
        // still finish has the same idempotency key as the one the offline queue would apply.
        const attempt = { abandoned: false, committing: false };
        try {
          return await this.withDeadline(
            this.attempt(inbound, msisdn, nonce, opened.session, lock, attempt, known),
            attempt,
          );
        } catch (e) {
          if (!(e instanceof DatabaseDeadline) && !isDatabaseUnavailable(e)) throw e;
          this.database.recordFailure(e);
          this.logger.warn({ sessionId: inbound.sessionId }, `USSD step answered offline: ${(e as Error).message}`);
        }
        // The online attempt may have changed its copy of the session before it failed.
        opened.session = await this.sessions.get(inbound.sessionId);
      }
      this.metrics.offline();
      return await this.attempt(inbound, msisdn, nonce, opened.session, lock, null, known);
    } finally {
      // Released with the session's save already, unless the step ended before saving.
      await lock.release();
    }
  }

  private withDeadline<T>(work: Promise<T>, attempt: OnlineAttempt): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Saving already (the session, and with it the lock's release): too late to answer this
        // step again offline, which would run its input a second time; its answer is on its way.
        if (attempt.committing) return;
        attempt.abandoned = true;
        reject(new DatabaseDeadline(this.settings.dbDeadlineMs));
      }, this.settings.dbDeadlineMs);
    });
    work.catch(() => undefined); // an abandoned attempt's late failure is nobody's business
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }

  /**
   * One step of a session: online (`attempt` given) with the services, or offline from the
   * subscriber's snapshot. Saves the session only at the end, and not at all once abandoned.
   */
  private async attempt(
    inbound: InboundUssd,
    msisdn: string,
    nonce: string,
    stored: UssdSession | null,
    lock: SessionLock,
    attempt: OnlineAttempt | null,
    known: Known,
  ): Promise<HandledUssd> {
    let session = stored;
    if (session && session.phoneNumber !== msisdn) {
      // A session id is bound to its phone: another number cannot step into it. Told in its own
      // language, not the session's.
      return this.refusal('error.otherPhone', await this.cachedLanguage(msisdn));
    }
    if (inbound.isClosing) {
      if (session) await this.sessions.delete(session.id);
      return { reply: { message: '', end: true }, screen: session?.screen ?? 'NONE' };
    }
    if (session?.ended) {
      // The journey is over. A redelivered request gets the last screen again and nothing runs
      // twice; only a new dial (a gateway that reuses session ids) starts afresh.
      const redial =
        inbound.isNewSession || (inbound.textMode === 'latest' && inbound.text === '' && !inbound.requestId);
      if (!redial)
        return {
          reply: session.lastReply ?? this.refusal('error.generic', session.language).reply,
          screen: session.screen,
        };
      session = null;
    }
    if (session && inbound.isNewSession) session = null;

    // The accumulated text's fingerprint, taken once: to tell a retry and to remember the step.
    const fingerprint = inbound.textMode === 'accumulated' ? this.fingerprint(inbound.text) : undefined;
    const plan = this.plan(session, inbound, fingerprint);
    if (plan.kind === 'replay') return { reply: plan.reply, screen: session?.screen ?? 'NONE' };

    let user: UssdUser;
    let backend: UssdBackend;
    let online: OnlineBackend | null = null;
    if (attempt) {
      if (session?.language && plan.kind === 'continue') {
        // A continuing step knows its subscriber from the session: no database lookup, so a
        // step that only navigates touches Redis alone.
        user = { id: session.userId, phoneNumber: msisdn, language: session.language };
      } else {
        user = await this.onboarding.identify(msisdn);
      }
      backend = online = new OnlineBackend(user, {
        users: this.users,
        loans: this.loans,
        wallet: this.wallet,
        mpesa: this.mpesa,
        topUps: this.topUps,
      });
    } else {
      const snapshot = await this.snapshots.get(msisdn);
      // Nobody to be sure of without the database or a snapshot: say so, and end.
      if (!snapshot || (session && session.userId !== snapshot.user.id)) {
        return this.refusal('offline.busy', await this.cachedLanguage(msisdn));
      }
      const { hasPin: _hasPin, ...identity } = snapshot.user;
      user = identity;
      backend = new OfflineBackend(snapshot, this.users, this.offlineQueue);
    }
    known.language = user.language;

    if (!session || plan.kind === 'start') {
      const { journey: lost, held: resumeHeld } = await this.sessions.takeResumable(msisdn, inbound.sessionId);
      // Offered on a plain dial, and only where continuing keeps something the subscriber typed.
      const question =
        lost && plan.inputs.length === 0 ? this.engine.resumeQuestion(lost, translator(user.language)) : null;
      session = {
        id: inbound.sessionId,
        gateway: inbound.gateway,
        phoneNumber: msisdn,
        userId: user.id,
        language: user.language,
        journey: question ? offerToResume(question) : newJourney(),
        resumable: question && lost ? lost : undefined,
        resumeHeld,
        screen: ScreenId.Main,
        step: 0,
        // Makes this session's idempotency keys its own, even where a gateway reuses session ids.
        nonce,
        createdAt: Date.now(),
        updatedAt: Date.now(),
      };
    }

    const context = this.contextFor(session, user, backend);
    let result: StepResult | undefined =
      plan.kind === 'start' ? await this.engine.show(session.journey, context) : undefined;
    for (const input of plan.inputs) {
      if (result?.reply.end) break;
      result = await this.answer(session, input, context);
    }
    if (!result) result = await this.engine.show(session.journey, context);
    if (attempt?.abandoned) throw new DatabaseDeadline(this.settings.dbDeadlineMs);
    if (attempt) attempt.committing = true;
    this.remember(session, inbound, result, fingerprint);
    // Only a screen waiting for an answer is "in the middle": a result (SUCCESS, APPROVED…)
    // or a read-only screen (balance, a loan's details) leaves nothing to continue.
    // The new-PIN screens are never resumable: they follow a check of the current PIN that
    // someone else picking up the phone must not inherit.
    // Whether the next dial offers the journey kept here is decided then (the engine's
    // resumeQuestion: only after something typed). Kept on every such step all the same, so that
    // a step costs the same Redis commands whatever its screen.
    const midJourney =
      !result.reply.end &&
      !NOT_RESUMABLE.includes(session.screen) &&
      this.engine.screen(session.screen).onInput !== undefined;
    // An ended session is kept (as ended) for the rest of its TTL, so that a redelivered request
    // is answered again. The session, the resume offer and the lock's release leave together.
    if (result.reply.end) session.ended = true;
    let resume: Promise<void> | undefined;
    if (midJourney) resume = this.sessions.saveResumable(msisdn, session.id, session.journey);
    else if (session.resumeHeld) resume = this.sessions.dropResumable(msisdn);
    session.resumeHeld = midJourney;
    await Promise.all([this.sessions.save(session, lock), resume]);
    // What this subscriber could still see offline. A write has already updated the snapshots of
    // everyone it changed, before returning (SubscriberChanges); after a good step that read (a
    // dial counts as a read: it is when a snapshot is most likely missing), one is taken in the
    // background, at most every USSD_SNAPSHOT_REFRESH_SECONDS.
    if (online && !online.wrote && (plan.kind === 'start' || online.read)) this.snapshots.refreshSoon(user.id);
    return { reply: result.reply, screen: result.screen };
  }

  private async answer(
    session: UssdSession,
    input: string,
    context: (page: number) => ScreenContext,
  ): Promise<StepResult> {
    session.step += 1;
    const top = this.engine.current(session.journey);
    if (top.screen === ScreenId.Resume && input === '1' && session.resumable) {
      session.journey = session.resumable;
      delete session.resumable;
      return this.engine.show(session.journey, context);
    }
    return this.engine.answer(session.journey, input, context);
  }

  /** What this request asks for: the stored reply again (a retry), or inputs to run. */
  private plan(session: UssdSession | null, inbound: InboundUssd, fingerprint: string | undefined): Plan {
    const text = inbound.text;
    if (inbound.textMode === 'dial') return { kind: 'start', inputs: text ? text.split('*') : [] };
    if (inbound.textMode === 'latest') {
      if (session && inbound.requestId && inbound.requestId === session.lastRequestId && session.lastReply) {
        return { kind: 'replay', reply: session.lastReply };
      }
      if (!session) return { kind: 'start', inputs: text ? [text] : [] };
      return { kind: 'continue', inputs: [text] };
    }
    // Africa's Talking: `text` accumulates every input joined by '*'.
    if (!session) return { kind: 'start', inputs: text ? text.split('*') : [] }; // a shortcut dial
    const last = session.lastText;
    if (last && last.hash === fingerprint && session.lastReply) return { kind: 'replay', reply: session.lastReply };
    if (last && text.length > last.length && this.fingerprint(text.slice(0, last.length)) === last.hash) {
      // The new input is what follows the previous text (it may itself contain '*').
      return { kind: 'continue', inputs: [last.length === 0 ? text : text.slice(last.length + 1)] };
    }
    return { kind: 'continue', inputs: [text.slice(text.lastIndexOf('*') + 1)] };
  }

  /**
   * Identifies an accumulated text without keeping it: it carries PINs, so the fingerprint is keyed
   * with the server's pepper (a plain hash of a short menu path and a PIN could be reversed).
   */
  private fingerprint(text: string): string {
    return createHmac('sha256', this.pepper).update(`ussd-text:${text}`).digest('base64url');
  }

  private remember(
    session: UssdSession,
    inbound: InboundUssd,
    result: StepResult,
    fingerprint: string | undefined,
  ): void {
    session.screen = result.screen;
    session.lastReply = result.reply;
    if (fingerprint !== undefined) session.lastText = { length: inbound.text.length, hash: fingerprint };
    if (inbound.requestId) session.lastRequestId = inbound.requestId;
  }

  private contextFor(session: UssdSession, user: UssdUser, backend: UssdBackend): (page: number) => ScreenContext {
    return (page) => ({
      user,
      language: user.language,
      t: translator(user.language),
      data: session.journey.data,
      page,
      backend,
      actionKey: (name) => `ussd:${session.nonce}:${session.step}:${name}`,
      settings: {
        minAmount: this.loanSettings.minAmount,
        maxAmount: this.loanSettings.maxAmount,
        lockMinutes: this.lockMinutes,
        maxChars: this.settings.maxChars,
      },
    });
  }

  /** For the seed's monitoring endpoints. */
  listSessions() {
    return this.sessions.list();
  }

  clearSessions() {
    return this.sessions.clear();
  }

  countSessions() {
    return this.sessions.countActive();
  }
}
