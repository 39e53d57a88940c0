import { MIN_REPAYMENT_PER_DEPOSIT } from '../../loans/loan-requests.service.js';
import { parseKenyanMobile } from '../../common/phone-number.js';
import { ScreenId, type FormField, type ScreenDef } from '../engine/types.js';
import { local, num, parseAmount, str } from './common.js';
import { requirePin, type PinAction } from './pin.journey.js';

/** Every value typed in a loan request is worth continuing: the request is named by its lender. */
function field(key: string): FormField {
  return {
    key,
    resumeQuestion: (ctx) => ctx.t('resume.request', { lender: local(str(ctx, 'lender')) }),
  };
}

/** 1. Request Loan — the seed's flow: lender phone → amount → repayment → confirm → PIN. */
export const requestLoanScreens: ScreenDef[] = [
  {
    id: ScreenId.RequestPhone,
    leadsTo: [ScreenId.RequestAmount],
    form: field('lender'),
    render: ({ t }) => ({ body: t('request.phone') }),
    onInput: (input, ctx) => {
      const phone = parseKenyanMobile(input);
      if (!phone.ok) return { invalid: `phone.${phone.code}` };
      if (phone.msisdn === ctx.user.phoneNumber) return { invalid: 'invalid.self' };
      ctx.data.lender = phone.msisdn;
      return { go: ScreenId.RequestAmount };
    },
  },
  {
    id: ScreenId.RequestAmount,
    leadsTo: [ScreenId.RequestRepayment],
    form: field('amount'),
    render: ({ t }) => ({ body: t('request.amount') }),
    onInput: (input, ctx) => {
      const { minAmount: min, maxAmount: max } = ctx.settings;
      const amount = parseAmount(input);
      if (amount === null || amount < min || amount > max) return { invalid: 'invalid.amount', params: { min, max } };
      ctx.data.amount = amount;
      return { go: ScreenId.RequestRepayment };
    },
  },
  {
    id: ScreenId.RequestRepayment,
    leadsTo: [ScreenId.RequestConfirm],
    form: field('repayment'),
    render: ({ t }) => ({ body: t('request.repayment') }),
    onInput: (input, ctx) => {
      const max = num(ctx, 'amount');
      const repayment = parseAmount(input);
      if (repayment === null || repayment < MIN_REPAYMENT_PER_DEPOSIT || repayment > max) {
        return { invalid: 'invalid.repayment', params: { min: MIN_REPAYMENT_PER_DEPOSIT, max } };
      }
      ctx.data.repayment = repayment;
      return { go: ScreenId.RequestConfirm };
    },
  },
  {
    id: ScreenId.RequestConfirm,
    // The seed's confirm screen: 1 confirms, 0 cancels (back to the main menu).
    navigation: false,
    leadsTo: [ScreenId.PinEnter, ScreenId.PinCreate, ScreenId.Main],
    render: (ctx) => ({
      body: ctx.t('request.confirm', {
        lender: local(str(ctx, 'lender')),
        amount: num(ctx, 'amount'),
        repayment: num(ctx, 'repayment'),
      }),
    }),
    onInput: (input, ctx) => {
      if (input === '1') return requirePin(ctx, 'request');
      if (input === '0' || input === '00') return { home: true };
      return { invalid: 'invalid.option' };
    },
  },
  {
    id: ScreenId.RequestSent,
    leadsTo: [],
    render: (ctx) => ({ body: ctx.t('request.sent', { lender: local(str(ctx, 'lender')) }) }),
  },
];

export const requestLoanActions: Record<string, PinAction> = {
  request: async (ctx) => {
    await ctx.backend.requestLoan(
      { lenderPhoneNumber: str(ctx, 'lender'), amount: num(ctx, 'amount'), repaymentPerDeposit: num(ctx, 'repayment') },
      ctx.actionKey('request'),
    );
    return { finish: ScreenId.RequestSent };
  },
};
