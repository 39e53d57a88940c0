import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { isDatabaseUnavailable } from '../../common/postgres-errors.js';
import type { AppConfig } from '../../config/app-config.js';
import { DatabaseAvailability } from '../../database/database-availability.js';
import type { OnlineBackend } from '../backend/online-backend.js';
import type { UssdBackend, UssdUser } from '../backend/ussd-backend.js';
import type { InboundUssd } from '../dialects.js';
import { JourneyEngine, newJourney, type StepResult } from '../engine/journey-engine.js';
import { ScreenId, type ScreenContext } from '../engine/types.js';
import { translator, type BilingualKey } from '../i18n/translate.js';
import { journeyScreens } from '../journeys/index.js';
import { offerToResume } from '../journeys/main.journey.js';
import { UssdMetrics } from '../ussd.metrics.js';
import type { UssdSession } from '../ussd-session.store.js';
import { UssdBackendFactory, type Backed } from './backend-factory.js';
import type { DialReads } from './gate.js';
import type { RunPlan } from './planner.js';
import type { Known } from './refusal.js';

/** The online attempt of a step took longer than USSD_DB_DEADLINE_MS. */
class DatabaseDeadline extends Error {
  constructor(ms: number) {
    super(`no answer from the database within ${ms} ms`);
    this.name = 'DatabaseDeadline';
  }
}

/** The online attempt of a step: abandoned at the deadline, unless it is done already. */
interface OnlineAttempt {
  abandoned: boolean;
  committing: boolean;
}

const NOT_RESUMABLE: ScreenId[] = [ScreenId.Main, ScreenId.Resume, ScreenId.PinNew, ScreenId.PinNewConfirm];

/** A step to run: the request, its plan, and for a new session what the gate read for it. */
export interface Step {
  inbound: InboundUssd;
  msisdn: string;
  plan: RunPlan;
  /** The accumulated text's fingerprint, remembered with the step to tell a retry. */
  fingerprint: string | undefined;
  /** Given whenever the step starts a session. */
  dial: DialReads | undefined;
  /** The stored session as read, for a second attempt after the first changed its copy. */
  asRead(): UssdSession | null;
}

/** A step that ran: the session to save, and what to keep for the next dial and for offline use. */
export interface Ran {
  kind: 'ran';
  session: UssdSession;
  result: StepResult;
  /** Waiting for an answer part-way through a journey: what the phone's next dial may offer to resume. */
  midJourney: boolean;
  user: UssdUser;
  /** The online backend when the step ran online. */
  online: OnlineBackend | null;
  /** The subscriber was registered by this step (online): nothing of theirs exists yet. */
  registered: boolean;
}

export type RunOutcome = Ran | { kind: 'refused'; key: BilingualKey };

/**
 * Runs a step's journey: online with the services, unless PostgreSQL fails or keeps us waiting
 * past USSD_DB_DEADLINE_MS; then the same step runs again offline from the subscriber's snapshot.
 * Touches no store: the caller saves the session it returns.
 */
@Injectable()
export class StepRunner {
  private readonly logger = new Logger(StepRunner.name);
  private readonly engine: JourneyEngine;
  private readonly settings: AppConfig['ussd'];
  private readonly screenSettings: ScreenContext['settings'];

  constructor(
    private readonly backends: UssdBackendFactory,
    private readonly database: DatabaseAvailability,
    private readonly metrics: UssdMetrics,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('ussd', { infer: true });
    const loans = config.get('loans', { infer: true });
    this.screenSettings = {
      minAmount: loans.minAmount,
      maxAmount: loans.maxAmount,
      lockMinutes: config.get('pin', { infer: true }).lockMinutes,
      maxChars: this.settings.maxChars,
    };
    this.engine = new JourneyEngine(journeyScreens(), this.settings.maxChars);
  }

  async run(step: Step, known: Known): Promise<RunOutcome> {
    // One per request, shared by both attempts: a new session made online and again offline gets
    // the same idempotency keys, so a write the abandoned online attempt finishes late and the
    // one the offline queue applies are the same write.
    const nonce = randomUUID();
    let stored = step.plan.session;
    if (!this.database.isOpen()) {
      // A write the abandoned attempt may still finish has the same idempotency key as the one
      // the offline queue would apply.
      const attempt = { abandoned: false, committing: false };
      try {
        return await this.withDeadline(this.attempt(step, stored, nonce, attempt, known), attempt);
      } catch (e) {
        if (!(e instanceof DatabaseDeadline) && !isDatabaseUnavailable(e)) throw e;
        this.database.recordFailure(e);
        this.logger.warn({ sessionId: step.inbound.sessionId }, `USSD step answered offline: ${(e as Error).message}`);
      }
      // The online attempt may have changed its copy of the session before it failed.
      stored = stored && step.asRead();
    }
    this.metrics.offline();
    return this.attempt(step, stored, nonce, null, known);
  }

  private withDeadline<T>(work: Promise<T>, attempt: OnlineAttempt): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Done already, its session on the way to being saved: too late to answer this step
        // again offline, which would run its input a second time; its answer is on its way.
        if (attempt.committing) return;
        attempt.abandoned = true;
        reject(new DatabaseDeadline(this.settings.dbDeadlineMs));
      }, this.settings.dbDeadlineMs);
    });
    work.catch(() => undefined); // an abandoned attempt's late failure is nobody's business
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }

  /**
   * One attempt at the step: online (`attempt` given) with the services, or offline from the
   * subscriber's snapshot. Once abandoned, it ends without an answer.
   */
  private async attempt(
    step: Step,
    stored: UssdSession | null,
    nonce: string,
    attempt: OnlineAttempt | null,
    known: Known,
  ): Promise<RunOutcome> {
    const { inbound, msisdn, plan } = step;
    let session = stored;
    let backed: Backed<UssdBackend>;
    let online: OnlineBackend | null = null;
    let registered = false;
    if (attempt) {
      // A continuing step knows its subscriber from the session, a dial most often from the
      // identity cache: no database lookup, so a step that only navigates touches Redis alone.
      const fromSession =
        session?.language && plan.kind === 'continue'
          ? { id: session.userId, phoneNumber: msisdn, language: session.language }
          : null;
      const onlineBacked = await this.backends.online(msisdn, fromSession, step.dial?.identity);
      online = onlineBacked.backend;
      registered = onlineBacked.registered === true;
      backed = onlineBacked;
    } else {
      const offlineBacked = await this.backends.offline(msisdn);
      // Nobody to be sure of without the database or a snapshot: say so, and end.
      if (!offlineBacked || (session && session.userId !== offlineBacked.user.id)) {
        return { kind: 'refused', key: 'offline.busy' };
      }
      backed = offlineBacked;
    }
    const { user, backend } = backed;
    known.language = user.language;

    if (!session || plan.kind === 'start') {
      const { journey: lost, held: resumeHeld } = step.dial?.offer ?? { journey: null, held: false };
      // Offered on a plain dial, and only where continuing keeps something the subscriber typed.
      const question =
        lost && plan.inputs.length === 0 ? this.engine.resumeQuestion(lost, translator(user.language)) : null;
      session = {
        id: inbound.sessionId,
        gateway: inbound.gateway,
        phoneNumber: msisdn,
        userId: user.id,
        language: user.language,
        journey: question && lost ? offerToResume(question, lost) : newJourney(),
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
    session.screen = result.screen;
    session.lastReply = result.reply;
    if (step.fingerprint !== undefined) session.lastText = { length: inbound.text.length, hash: step.fingerprint };
    if (inbound.requestId) session.lastRequestId = inbound.requestId;
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
    // is answered again.
    if (result.reply.end) session.ended = true;
    return { kind: 'ran', session, result, midJourney, user, online, registered };
  }

  private async answer(
    session: UssdSession,
    input: string,
    context: (page: number) => ScreenContext,
  ): Promise<StepResult> {
    session.step += 1;
    return this.engine.answer(session.journey, input, context);
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
      settings: this.screenSettings,
    });
  }
}
