import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { isRedisUnavailable } from '../common/redis-errors.js';
import type { AppConfig } from '../config/app-config.js';
import type { Language } from '../common/language.js';
import { UsersService } from '../users/users.service.js';
import type { InboundUssd } from './dialects.js';
import type { BilingualKey } from './i18n/translate.js';
import { UssdSnapshotStore } from './offline/snapshot.store.js';
import { UssdGate } from './step/gate.js';
import { planStep, textFingerprint } from './step/planner.js';
import { refusal, type HandledUssd, type Known } from './step/refusal.js';
import { StepRunner } from './step/runner.js';
import { UssdMetrics } from './ussd.metrics.js';
import { UssdSessionStore } from './ussd-session.store.js';

export type { HandledUssd } from './step/refusal.js';

/**
 * One USSD request, whatever the gateway, read straight through: the gate (rate limit, the
 * session under its lock), the plan (a retry gets the stored reply and nothing runs twice), the
 * runner (the journey engine, online or offline), and one save of the session.
 * Always answers with a screen: internal errors end the session politely.
 */
@Injectable()
export class UssdService {
  private readonly logger = new Logger(UssdService.name);
  private readonly maxChars: number;
  private readonly fingerprintOf: (text: string) => string;

  constructor(
    private readonly gate: UssdGate,
    private readonly runner: StepRunner,
    private readonly sessions: UssdSessionStore,
    private readonly snapshots: UssdSnapshotStore,
    private readonly users: UsersService,
    private readonly metrics: UssdMetrics,
    config: ConfigService<AppConfig, true>,
  ) {
    this.maxChars = config.get('ussd', { infer: true }).maxChars;
    const pepper = config.get('security', { infer: true }).pinPepper;
    this.fingerprintOf = (text) => textFingerprint(pepper, text);
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
      if (isRedisUnavailable(err)) {
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
    const language =
      typeof phoneNumber === 'string'
        ? ((await this.users.cachedLanguage(phoneNumber).catch(() => null)) ?? undefined)
        : undefined;
    return this.refusal('error.unreadable', language).reply.message;
  }

  private refusal(key: BilingualKey, language: Language | undefined): HandledUssd {
    return refusal(key, language, this.maxChars);
  }

  private async handleSafely(inbound: InboundUssd, known: Known): Promise<HandledUssd> {
    const gated = await this.gate.open(inbound, known);
    if (gated.kind === 'refused') return gated.handled;
    const { msisdn, lock } = gated;
    try {
      // The accumulated text's fingerprint, taken once: to tell a retry and to remember the step.
      const fingerprint = inbound.textMode === 'accumulated' ? this.fingerprintOf(inbound.text) : undefined;
      const plan = planStep(gated.session, inbound, fingerprint, this.fingerprintOf);
      switch (plan.kind) {
        case 'close':
          if (gated.session) await this.sessions.delete(msisdn, gated.session.id);
          return { reply: { message: '', end: true }, screen: plan.screen };
        case 'replay':
          return {
            reply: plan.reply ?? this.refusal('error.generic', gated.session?.language).reply,
            screen: plan.screen,
          };
      }
      // A new session needs the resume offer and the identity: read with the lock when the
      // request may be a dial, afterwards when the gateway said it continues a session that is gone.
      const dial =
        plan.kind === 'start' || !plan.session
          ? (gated.dial ?? (await this.gate.dialReads(msisdn, inbound.sessionId)))
          : undefined;
      const ran = await this.runner.run(
        { inbound, msisdn, plan, fingerprint, dial, asRead: () => gated.asRead() },
        known,
      );
      if (ran.kind === 'refused') return this.refusal(ran.key, await this.gate.cachedLanguage(msisdn, dial));
      const { session, result, online, user } = ran;
      // The session, the resume offer and the lock's release leave together: the step's one save.
      const resume = ran.midJourney ? { hold: session.journey } : session.resumeHeld ? 'drop' : 'keep';
      session.resumeHeld = ran.midJourney;
      await this.sessions.save(session, lock, resume);
      // What this subscriber could still see offline. A write has already updated the snapshots of
      // everyone it changed, before returning (SubscriberChanges); after a good step that read (a
      // dial counts as a read: it is when a snapshot is most likely missing), one is taken in the
      // background, at most every USSD_SNAPSHOT_REFRESH_SECONDS.
      // Someone registered by this very step has nothing yet: their first snapshot needs no query.
      if (ran.registered && !online?.wrote) this.snapshots.storeFirst(user);
      else if (online && !online.wrote && (plan.kind === 'start' || online.read)) this.snapshots.refreshSoon(user.id);
      return { reply: result.reply, screen: result.screen };
    } finally {
      // Released with the session's save already, unless the step ended before saving.
      await lock.release();
    }
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
