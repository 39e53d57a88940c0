import { newJourney, type JourneyState } from '../engine/journey-engine.js';
import { ScreenId, type ScreenDef } from '../engine/types.js';
import { parseChoice, str } from './common.js';

/** Where the resume offer keeps its question (the engine's resumeQuestion of the lost journey). */
const RESUME_QUESTION = 'resumeQuestion';
/** Where the resume offer keeps the lost journey itself (as JSON: journey data holds plain values). */
const LOST_JOURNEY = 'lostJourney';

/** A new journey that opens on the offer to continue `lost`, asking `question`. */
export function offerToResume(question: string, lost: JourneyState): JourneyState {
  const journey = newJourney(ScreenId.Resume);
  journey.data[RESUME_QUESTION] = question;
  journey.data[LOST_JOURNEY] = JSON.stringify(lost);
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
    // something a form keeps: 1 carries on with the lost journey where it stood, 2 starts again.
    id: ScreenId.Resume,
    navigation: false,
    leadsTo: [ScreenId.Main],
    render: (ctx) => ({ body: `${str(ctx, RESUME_QUESTION)}\n${ctx.t('resume.options')}` }),
    onInput: (input, ctx) => {
      if (input === '1') return { resume: JSON.parse(str(ctx, LOST_JOURNEY)) as JourneyState };
      return input === '2' ? { home: true } : { invalid: 'invalid.option' };
    },
  },
];
