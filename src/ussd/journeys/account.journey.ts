import { ScreenId, type ScreenDef } from '../engine/types.js';
import { translator } from '../i18n/translate.js';
import { TOP_UP_LIMITS, WITHDRAWAL_LIMITS } from '../../mpesa/mpesa.rules.js';
import { num, parseAmount, parseChoice } from './common.js';
import { requirePin, type PinAction } from './pin.journey.js';

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
    // An M-PESA prompt (STK push) goes to this phone; the wallet is credited (and debts allocated)
    // when the subscriber confirms it with the M-PESA PIN. No Deni PIN: nothing leaves the wallet.
    // No form field: the amount is the last answer (the prompt goes at once), so nothing typed
    // here is left to continue.
    id: ScreenId.TopUpAmount,
    leadsTo: [],
    render: ({ t }) => ({ body: t('topup.amount') }),
    onInput: async (input, ctx) => {
      const amount = parseAmount(input);
      if (amount === null || amount < TOP_UP_LIMITS.min || amount > TOP_UP_LIMITS.max) {
        return { invalid: 'invalid.amount', params: { ...TOP_UP_LIMITS } };
      }
      await ctx.backend.topUp(amount);
      return { end: ctx.t('topup.sent', { amount }) };
    },
  },
  {
    // Checked against the wallet, then the PIN; the money is held at once and paid out by M-PESA.
    id: ScreenId.WithdrawAmount,
    leadsTo: [ScreenId.PinEnter, ScreenId.PinCreate],
    form: { key: 'amount', resumeQuestion: (ctx) => ctx.t('resume.withdraw', { amount: num(ctx, 'amount') }) },
    render: async (ctx) => ({ body: ctx.t('withdraw.amount', { balance: await ctx.backend.balance() }) }),
    onInput: async (input, ctx) => {
      const amount = parseAmount(input);
      const balance = await ctx.backend.balance();
      if (amount === null || amount < WITHDRAWAL_LIMITS.min || amount > WITHDRAWAL_LIMITS.max) {
        return { invalid: 'invalid.amount', params: { ...WITHDRAWAL_LIMITS } };
      }
      if (amount > balance) return { invalid: 'invalid.moreThanBalance', params: { max: balance } };
      ctx.data.amount = amount;
      return requirePin(ctx, 'withdraw');
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

export const accountActions: Record<string, PinAction> = {
  withdraw: async (ctx) => {
    await ctx.backend.withdraw(num(ctx, 'amount'), ctx.actionKey('withdraw'));
    return { end: ctx.t('withdraw.sent', { amount: num(ctx, 'amount') }) };
  },
};
