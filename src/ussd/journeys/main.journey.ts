import { ScreenId, type ScreenDef } from '../engine/types.js';
import { parseChoice } from './common.js';

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
    // Offered when a subscriber dials again within minutes of losing a session mid-journey.
    // The service answers 1 (restore the saved journey) itself; 2 starts again.
    id: ScreenId.Resume,
    navigation: false,
    leadsTo: [ScreenId.Main],
    render: ({ t }) => ({ body: `${t('resume.title')}\n${t('resume.options')}` }),
    onInput: (input) => (input === '2' ? { home: true } : { invalid: 'invalid.option' }),
  },
];
