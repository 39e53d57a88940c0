import { ScreenId, type ScreenDef } from '../engine/types.js';
import { translator } from '../i18n/translate.js';
import { parseAmount, parseChoice } from './common.js';

const ACCOUNT_MENU = [ScreenId.TopUpAmount, ScreenId.WithdrawAmount, ScreenId.PinOld, ScreenId.Language];

/** 7. My Account — top up, withdraw, change PIN, language. */
export const accountScreens: ScreenDef[] = [
  {
    id: ScreenId.Account,
    leadsTo: ACCOUNT_MENU,
    render: ({ t }) => ({ body: `${t('account.title')}\n${t('account.options')}` }),
    onInput: (input) => {
      const choice = parseChoice(input, ACCOUNT_MENU.length);
      return choice ? { go: ACCOUNT_MENU[choice - 1] } : { invalid: 'invalid.option' };
    },
  },
  {
    // The amount is checked here; the M-PESA STK push that completes a top-up comes with the
    // M-PESA integration, and until then the screen says so plainly instead of pretending.
    id: ScreenId.TopUpAmount,
    leadsTo: [],
    render: ({ t }) => ({ body: t('topup.amount') }),
    onInput: (input, ctx) => {
      const amount = parseAmount(input);
      if (amount === null || amount < 1 || amount > ctx.settings.maxAmount) {
        return { invalid: 'invalid.amount', params: { min: 1, max: ctx.settings.maxAmount } };
      }
      return { end: ctx.t('topup.unavailable') };
    },
  },
  {
    // Checked against the wallet; no money is held until M-PESA payouts (B2C) exist, so nothing
    // can be stuck in the pending account.
    id: ScreenId.WithdrawAmount,
    leadsTo: [],
    render: async (ctx) => ({ body: ctx.t('withdraw.amount', { balance: await ctx.backend.balance() }) }),
    onInput: async (input, ctx) => {
      const amount = parseAmount(input);
      const balance = await ctx.backend.balance();
      if (amount === null || amount < 1) return { invalid: 'invalid.option' };
      if (amount > balance) return { invalid: 'invalid.moreThanBalance', params: { max: balance } };
      return { end: ctx.t('withdraw.unavailable') };
    },
  },
  {
    id: ScreenId.Language,
    leadsTo: [],
    render: ({ t }) => ({ body: t('language.options') }),
    onInput: async (input, ctx) => {
      const choice = parseChoice(input, 2);
      if (!choice) return { invalid: 'invalid.option' };
      const language = choice === 1 ? 'en' : 'sw';
      await ctx.backend.setLanguage(language);
      ctx.user.language = language;
      // Said in the language just chosen.
      return { end: translator(language)('language.done') };
    },
  },
];
