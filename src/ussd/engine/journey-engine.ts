import { isDomainError } from '../../common/domain-error.js';
import { nairobiTime } from '../../common/nairobi-clock.js';
import type { MessageKey } from '../i18n/en.js';
import { hasMessage, type Params, type Translate } from '../i18n/translate.js';
import type { UssdReply } from '../dialects.js';
import { QueuedOffline } from '../backend/ussd-backend.js';
import { fitScreen, toGsm7 } from './screen-text.js';
import { ScreenId, type JourneyData, type Next, type ScreenContext, type ScreenDef } from './types.js';

export interface Frame {
  screen: ScreenId;
  page: number;
}

/** Where a subscriber is in the journey; kept in the Redis session between requests. */
export interface JourneyState {
  stack: Frame[];
  data: JourneyData;
  /** Whether the screen last shown offered 98 (more). */
  more: boolean;
}

export type StepOutcome = 'shown' | 'invalid' | 'end' | 'refused';

export interface StepResult {
  reply: UssdReply;
  screen: ScreenId;
  outcome: StepOutcome;
}

const NAV_BACK = '0';
const NAV_HOME = '00';
const NAV_MORE = '98';

/** The footer the engine puts under a screen: 98 while there is more, then back and home. */
export function navigationFooter(t: Translate, more: boolean, navigation: boolean): string {
  const footer: string[] = [];
  if (more) footer.push(t('nav.more'));
  if (navigation) footer.push(`${t('nav.back')} ${t('nav.home')}`);
  return footer.join('\n');
}

export function newJourney(first: ScreenId = ScreenId.Main): JourneyState {
  return { stack: [{ screen: first, page: 0 }], data: {}, more: false };
}

/**
 * Runs the journey: screens are data (ScreenDef), and this one engine provides what every screen
 * shares — back (0), home (00), more (98), re-asking with a reason on invalid input, domain
 * errors turned into a final screen, and the length and character-set limits.
 */
export class JourneyEngine {
  constructor(
    private readonly screens: ReadonlyMap<ScreenId, ScreenDef>,
    private readonly maxChars: number,
  ) {}

  screen(id: ScreenId): ScreenDef {
    const def = this.screens.get(id);
    if (!def) throw new Error(`no screen ${id}`);
    return def;
  }

  current(state: JourneyState): Frame {
    return state.stack[state.stack.length - 1];
  }

  /**
   * The question offering to continue a journey that was lost, or null when continuing would
   * keep nothing typed: worth it after an answer to a form field, never after choices alone.
   */
  resumeQuestion(state: JourneyState, t: Translate): string | null {
    // Every screen under the top one was answered (an answer that leads on pushes the next), so
    // its form value is this journey's, never one left in the data by an earlier pass.
    for (let i = state.stack.length - 2; i >= 0; i -= 1) {
      const form = this.screens.get(state.stack[i].screen)?.form;
      if (!form || state.data[form.key] === undefined) continue;
      try {
        return form.resumeQuestion({ data: state.data, t });
      } catch {
        // A journey kept by another version that cannot be described: start afresh rather than
        // fail every dial of this phone until the offer expires.
        return null;
      }
    }
    return null;
  }

  /** Shows the screen on top of the stack. */
  async show(
    state: JourneyState,
    ctx: (page: number) => ScreenContext,
    reason?: { key: MessageKey; params?: Params },
  ): Promise<StepResult> {
    const frame = this.current(state);
    const def = this.screen(frame.screen);
    const context = ctx(frame.page);
    context.backend.takeReadFrom();
    const rendered = await def.render(context);
    state.more = Boolean(rendered.hasMore);
    // Offline, what a screen shows comes from the subscriber's last snapshot: say how old it is
    // (a screen asked again already said so, and its reason takes the line).
    const readFrom = context.backend.takeReadFrom();
    const asOf = readFrom === null || reason ? '' : context.t('offline.asOf', { time: nairobiTime(readFrom) });
    const lines = [reason ? context.t(reason.key, reason.params) : '', asOf, rendered.body].filter(Boolean).join('\n');
    if (rendered.end) {
      return { reply: this.fit(lines, '', true), screen: frame.screen, outcome: 'end' };
    }
    const footer = navigationFooter(context.t, Boolean(rendered.hasMore), def.navigation !== false);
    return {
      reply: this.fit(lines, footer, false),
      screen: frame.screen,
      outcome: reason ? 'invalid' : 'shown',
    };
  }

  /** Applies one answer of the subscriber and shows where it leads. */
  async answer(state: JourneyState, input: string, ctx: (page: number) => ScreenContext): Promise<StepResult> {
    const frame = this.current(state);
    const def = this.screen(frame.screen);
    if (def.navigation !== false) {
      if (input === NAV_HOME) {
        state.stack = [{ screen: ScreenId.Main, page: 0 }];
        return this.show(state, ctx);
      }
      if (input === NAV_BACK) {
        if (state.stack.length > 1) state.stack.pop();
        else state.stack = [{ screen: ScreenId.Main, page: 0 }];
        return this.show(state, ctx);
      }
    }
    if (input === NAV_MORE && state.more) {
      frame.page += 1;
      return this.show(state, ctx);
    }
    if (!def.onInput) return this.show(state, ctx, { key: 'invalid.option' });

    let next: Next;
    try {
      next = await def.onInput(input, ctx(frame.page));
    } catch (e) {
      const t = ctx(frame.page).t;
      // Accepted while the database is down: the session ends with the reference to quote.
      if (e instanceof QueuedOffline)
        return {
          reply: this.fit(t('offline.queued', { reference: e.reference }), '', true),
          screen: frame.screen,
          outcome: 'end',
        };
      if (!isDomainError(e)) throw e;
      const key = `error.${e.code}`;
      const details = e.details ?? {};
      const params: Params = {
        minutes: Math.max(1, Math.ceil(Number(details.retryAfterSeconds ?? 60) / 60)),
        max: Number(details.max ?? 0),
      };
      return {
        reply: this.fit(t(hasMessage(key) ? key : 'error.generic', params), '', true),
        screen: frame.screen,
        outcome: 'refused',
      };
    }
    if ('invalid' in next) return this.show(state, ctx, { key: next.invalid, params: next.params });
    if ('end' in next) return { reply: this.fit(next.end, '', true), screen: frame.screen, outcome: 'end' };
    if ('resume' in next) {
      state.stack = next.resume.stack;
      state.data = next.resume.data;
      state.more = next.resume.more;
      return this.show(state, ctx);
    }
    if ('home' in next) {
      state.stack = [{ screen: ScreenId.Main, page: 0 }];
      return this.show(state, ctx);
    }
    if ('finish' in next) {
      state.stack = [
        { screen: ScreenId.Main, page: 0 },
        { screen: next.finish, page: 0 },
      ];
      return this.show(state, ctx);
    }
    state.stack.push({ screen: next.go, page: 0 });
    return this.show(state, ctx);
  }

  private fit(body: string, footer: string, end: boolean): UssdReply {
    return { message: fitScreen(toGsm7(body), toGsm7(footer), this.maxChars), end };
  }
}
