import { DomainError } from '../../common/domain-error.js';
import type { Language } from '../../common/language.js';
import type { UssdBackend } from '../backend/ussd-backend.js';
import { translator } from '../i18n/translate.js';
import { JourneyEngine, newJourney, type JourneyState } from './journey-engine.js';
import { fitScreen, isGsm7, toGsm7 } from './screen-text.js';
import { ScreenId, type JourneyData, type ScreenContext, type ScreenDef } from './types.js';

/**
 * The engine alone, over a tiny fake journey (no services): Main → A → B (a three-page list);
 * A can also finish on C, end, fail with a domain error, or go home. A is a form field: 8 is
 * typed there (kept as data.typed) and leads to B.
 */
const A = ScreenId.RequestPhone;
const B = ScreenId.LoansList;
const C = ScreenId.RequestSent;
const PAGES = 3;

const screens = new Map<ScreenId, ScreenDef>(
  [
    {
      id: ScreenId.Main,
      navigation: false,
      leadsTo: [A],
      render: () => ({ body: 'MAIN\n1. A' }),
      onInput: (input: string) => (input === '1' ? { go: A } : { invalid: 'invalid.option' as const }),
    },
    {
      id: A,
      leadsTo: [B, C],
      form: {
        key: 'typed',
        resumeQuestion: ({ data, t }: Pick<ScreenContext, 'data' | 't'>) =>
          `Continue with ${String(data.typed)}? ${t('nav.back')}`,
      },
      render: () => ({ body: 'SCREEN A' }),
      onInput: (input: string, ctx: ScreenContext) => {
        switch (input) {
          case '1':
            return { go: B };
          case '8':
            ctx.data.typed = 'eight';
            return { go: B };
          case '2':
            return { finish: C };
          case '3':
            return { end: 'Bye from A' };
          case '4':
            return { home: true as const };
          case '5':
            throw new DomainError('USER.PIN_LOCKED', 'locked', 'locked', { retryAfterSeconds: 1_700 });
          case '6':
            throw new DomainError('SOMETHING.UNKNOWN', 'conflict', 'no message for this one');
          case '7':
            throw new Error('a bug');
          default:
            return { invalid: 'invalid.amount' as const, params: { min: 100, max: 250_000 } };
        }
      },
    },
    {
      id: B,
      leadsTo: [],
      render: (ctx: ScreenContext) => ({ body: `LIST page ${ctx.page + 1}`, hasMore: ctx.page + 1 < PAGES }),
    },
    { id: C, leadsTo: [], render: () => ({ body: 'DONE C' }) },
  ].map((s) => [s.id, s as ScreenDef]),
);

function context(language: Language = 'en', data: JourneyData = {}): (page: number) => ScreenContext {
  return (page) => ({
    user: { id: 'u1', phoneNumber: '254722000000', language },
    language,
    t: translator(language),
    data,
    page,
    backend: { takeReadFrom: () => null } as UssdBackend,
    actionKey: (name) => `test:${name}`,
    settings: { minAmount: 100, maxAmount: 250_000, lockMinutes: 30, maxChars: 160 },
  });
}

const engine = new JourneyEngine(screens, 160);

async function walk(
  inputs: string[],
  language: Language = 'en',
): Promise<{ state: JourneyState; message: string; end: boolean; outcome: string }> {
  const state = newJourney();
  let result = await engine.show(state, context(language, state.data));
  for (const input of inputs) result = await engine.answer(state, input, context(language, state.data));
  return { state, message: result.reply.message, end: result.reply.end, outcome: result.outcome };
}

const stackOf = (state: JourneyState) => state.stack.map((f) => `${f.screen}@${f.page}`);

describe('JourneyEngine', () => {
  it('shows a screen with the navigation footer, or none when the screen opts out', async () => {
    expect((await walk([])).message).toBe('MAIN\n1. A');
    expect((await walk(['1'])).message).toBe('SCREEN A\n0. Back 00. Home');
    expect((await walk(['1'], 'sw')).message).toBe('SCREEN A\n0. Rudi 00. Mwanzo');
  });

  it('0 pops one screen; on the first screen it stays on the main menu', async () => {
    const { state, message } = await walk(['1', '1', '0']);
    expect(stackOf(state)).toEqual(['MAIN@0', `${A}@0`]);
    expect(message).toBe('SCREEN A\n0. Back 00. Home');
    const back = await walk(['1', '0']);
    expect(stackOf(back.state)).toEqual(['MAIN@0']);
    expect(back.message).toBe('MAIN\n1. A');
  });

  it('00 goes home from any depth', async () => {
    const { state, message } = await walk(['1', '1', '98', '00']);
    expect(stackOf(state)).toEqual(['MAIN@0']);
    expect(message).toBe('MAIN\n1. A');
  });

  it('0 and 00 are plain answers on a screen without navigation', async () => {
    const { message, outcome } = await walk(['00']);
    expect(outcome).toBe('invalid');
    expect(message).toBe('Invalid choice.\nMAIN\n1. A');
  });

  it('98 turns the page only while the last screen offered more', async () => {
    const first = await walk(['1', '1']);
    expect(first.message).toBe('LIST page 1\n98. More\n0. Back 00. Home');
    expect(first.state.more).toBe(true);
    const second = await walk(['1', '1', '98']);
    expect(second.message).toBe('LIST page 2\n98. More\n0. Back 00. Home');
    const last = await walk(['1', '1', '98', '98']);
    expect(last.message).toBe('LIST page 3\n0. Back 00. Home');
    expect(last.state.more).toBe(false);
    expect(stackOf(last.state)).toEqual(['MAIN@0', `${A}@0`, `${B}@2`]);
    // No more pages: 98 is an ordinary (here invalid) answer and the page stays.
    const beyond = await walk(['1', '1', '98', '98', '98']);
    expect(beyond.outcome).toBe('invalid');
    expect(beyond.message).toBe('Invalid choice.\nLIST page 3\n0. Back 00. Home');
    expect(stackOf(beyond.state)).toEqual(['MAIN@0', `${A}@0`, `${B}@2`]);
    // 98 on a screen that never offered more goes to onInput like any answer.
    expect((await walk(['1', '98'])).message).toBe(
      'Enter a whole amount from Ksh 100 to Ksh 250000.\nSCREEN A\n0. Back 00. Home',
    );
  });

  it('an invalid answer re-asks the same screen with a reason line', async () => {
    const { state, message, outcome, end } = await walk(['1', 'abc']);
    expect(outcome).toBe('invalid');
    expect(end).toBe(false);
    expect(message).toBe('Enter a whole amount from Ksh 100 to Ksh 250000.\nSCREEN A\n0. Back 00. Home');
    expect(stackOf(state)).toEqual(['MAIN@0', `${A}@0`]);
    // A screen that takes no answer says so too.
    expect((await walk(['1', '1', '7'])).message).toBe('Invalid choice.\nLIST page 1\n98. More\n0. Back 00. Home');
  });

  it('finish shows the screen with only the main menu under it', async () => {
    const { state, message } = await walk(['1', '2']);
    expect(stackOf(state)).toEqual(['MAIN@0', `${C}@0`]);
    expect(message).toBe('DONE C\n0. Back 00. Home');
    expect(stackOf((await walk(['1', '2', '0'])).state)).toEqual(['MAIN@0']);
  });

  it('end and home', async () => {
    expect(await walk(['1', '3'])).toMatchObject({ message: 'Bye from A', end: true, outcome: 'end' });
    const home = await walk(['1', '4']);
    expect(stackOf(home.state)).toEqual(['MAIN@0']);
    expect(home.message).toBe('MAIN\n1. A');
  });

  it('a domain error from onInput ends the session with its translated message', async () => {
    expect(await walk(['1', '5'])).toMatchObject({
      message: 'Too many wrong PINs. Your PIN is locked for 29 minutes.',
      end: true,
      outcome: 'refused',
    });
    expect((await walk(['1', '5'], 'sw')).message).toBe(
      'PIN zisizo sahihi zimezidi. PIN yako imefungwa kwa dakika 29.',
    );
    // A code without a message gets the generic one.
    expect(await walk(['1', '6'])).toMatchObject({
      message: 'Sorry, that did not work. Please try again later.',
      end: true,
    });
    // Anything else is a bug: it is not hidden as a screen.
    await expect(walk(['1', '7'])).rejects.toThrow('a bug');
  });

  it('offers to resume a journey only where a form value was typed on the way to the current screen', async () => {
    const question = async (inputs: string[], language: Language = 'en') =>
      engine.resumeQuestion((await walk(inputs)).state, translator(language));
    // Typed on A, now on B: the question is A's, in the subscriber's language.
    expect(await question(['1', '8'])).toBe('Continue with eight? 0. Back');
    expect(await question(['1', '8', '98'], 'sw')).toBe('Continue with eight? 0. Rudi');
    // Choices alone: a menu choice, then a list.
    expect(await question(['1'])).toBeNull();
    expect(await question(['1', '1'])).toBeNull();
    // Typed, then left: back to A (its answer to be given again), or home and in again.
    expect(await question(['1', '8', '0'])).toBeNull();
    expect(await question(['1', '8', '00', '1'])).toBeNull();
    // A finished journey keeps nothing to continue.
    expect(await question(['1', '8', '0', '2'])).toBeNull();
  });

  it('offers nothing, rather than failing every dial, when a kept journey cannot be described', async () => {
    const { state } = await walk(['1', '8']);
    const broken = new Map(screens);
    broken.set(A, {
      ...screens.get(A)!,
      form: {
        key: 'typed',
        resumeQuestion: () => {
          throw new Error('journey value lender is missing');
        },
      },
    });
    expect(new JourneyEngine(broken, 160).resumeQuestion(state, translator('en'))).toBeNull();
  });

  it('cuts a screen that is too long and replaces characters outside GSM-7', async () => {
    const long = new Map(screens);
    long.set(A, { id: A, leadsTo: [], render: () => ({ body: `“Habari” — ${'x'.repeat(300)} 🎉` }) });
    const small = new JourneyEngine(long, 60);
    const state = newJourney();
    await small.show(state, context());
    const { reply } = await small.answer(state, '1', context());
    expect(reply.message).toHaveLength(60);
    expect(reply.message.startsWith('"Habari" - xxx')).toBe(true);
    expect(reply.message.endsWith('..\n0. Back 00. Home')).toBe(true);
    expect(isGsm7(reply.message)).toBe(true);
  });
});

describe('screen text', () => {
  it('keeps what fits untouched', () => {
    expect(fitScreen('a\nb', '0. Back', 160)).toBe('a\nb\n0. Back');
    expect(fitScreen('', '0. Back', 160)).toBe('0. Back');
    expect(fitScreen('only body', '', 160)).toBe('only body');
  });

  it('drops lines from the end of the body, then cuts with "..", keeping the footer whole', () => {
    const footer = '98. More\n0. Back 00. Home';
    const body = ['TITLE', 'line one is here', 'line two is here', 'line three is here'].join('\n');
    const dropped = fitScreen(body, footer, 60);
    expect(dropped).toBe('TITLE\nline one is here\n98. More\n0. Back 00. Home');
    expect(dropped.length).toBeLessThanOrEqual(60);

    const cut = fitScreen('y'.repeat(500), footer, 160);
    expect(cut).toHaveLength(160);
    expect(cut.endsWith(`..\n${footer}`)).toBe(true);

    // 182 characters is the most a gateway accepts.
    const at182 = fitScreen('z'.repeat(400), footer, 182);
    expect(at182).toHaveLength(182);
    expect(at182.endsWith(footer)).toBe(true);
    expect(fitScreen('z'.repeat(182), '', 182)).toBe('z'.repeat(182));
    expect(fitScreen('z'.repeat(183), '', 182)).toBe(`${'z'.repeat(180)}..`);
  });

  it('replaces curly quotes, dashes, ellipses, non-breaking spaces and emoji', () => {
    expect(toGsm7('‘a’ “b” – — … x\u00a0y')).toBe(`'a' "b" - - ... x y`);
    expect(toGsm7('Asante 🙏 sana')).toBe('Asante ? sana');
    expect(toGsm7('Ksh 100 @ £5 é ñ € [x] {y}')).toBe('Ksh 100 @ £5 é ñ € [x] {y}');
    expect(isGsm7('Ksh 100 € {}')).toBe(true);
    expect(isGsm7('“quoted”')).toBe(false);
    expect(isGsm7('🎉')).toBe(false);
  });
});
