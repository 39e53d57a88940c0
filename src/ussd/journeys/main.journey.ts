import { newJourney, type JourneyState } from '../engine/journey-engine.js';
import { ScreenId, type ScreenDef } from '../engine/types.js';
import { parseChoice, str } from './common.js';

/** Where the resume offer keeps its question (the engine's resumeQuestion of the lost journey). */
const RESUME_QUESTION = 'resumeQuestion';

/** A new journey that opens on the offer to continue a lost one, asking `question`. */
export function offerToResume(question: string): JourneyState {
  const journey = newJourney(ScreenId.Resume);
  journey.data[RESUME_QUESTION] = question;
  return journey;
}

const MAIN_MENU: ScreenId[] = [
  ScreenId.RequestPhone,
  ScreenId.LoansList,
  ScreenId.ApproveList,
  ScreenId.Balance,
  ScreenId.Transactions,
  ScreenId.RepayList,
  ScreenId.Account,
];

/** The seed's main menu, extended: 0 exits. */
export const mainScreens: ScreenDef[] = [
  {
    id: ScreenId.Main,
    navigation: false,
    leadsTo: MAIN_MENU,
    render: ({ t }) => ({ body: `${t('main.title')}\n${t('main.options')}\n${t('nav.exit')}` }),
    onInput: (input, { t }) => {
      if (input === '0') return { end: t('exit.bye') };
      const choice = parseChoice(input, MAIN_MENU.length);
      return choice ? { go: MAIN_MENU[choice - 1] } : { invalid: 'invalid.option' };
    },
  },
  {
    // Offered when a subscriber dials again within minutes of losing a session after typing
    // something a form keeps. The service answers 1 (restore the saved journey) itself; 2 starts again.
    id: ScreenId.Resume,
    navigation: false,
    leadsTo: [ScreenId.Main],
    render: (ctx) => ({ body: `${str(ctx, RESUME_QUESTION)}\n${ctx.t('resume.options')}` }),
    onInput: (input) => (input === '2' ? { home: true } : { invalid: 'invalid.option' }),
  },
];
