import { listScreen } from '../engine/list-screen.js';
import { ScreenId, type ScreenDef } from '../engine/types.js';
import { local, num, parseAmount, str } from './common.js';
import { requirePin, type PinAction } from './pin.journey.js';

/** 6. Repay Loan — pick an active loan → amount → PIN. */
export const repayScreens: ScreenDef[] = [
  listScreen({
    id: ScreenId.RepayList,
    leadsTo: [ScreenId.RepayAmount],
    title: 'repay.title',
    empty: 'repay.empty',
    fetch: (ctx, offset, limit) => ctx.backend.loans('repayable', offset, limit),
    line: (loan, n, ctx) => ctx.t('repay.line', { n, other: local(loan.other), outstanding: loan.outstanding }),
    key: (loan) => loan.id,
    select: (loan, ctx) => {
      ctx.data.loanId = loan.id;
      ctx.data.other = local(loan.other);
      return { go: ScreenId.RepayAmount };
    },
  }),
  {
    id: ScreenId.RepayAmount,
    leadsTo: [ScreenId.PinEnter, ScreenId.PinCreate],
    form: {
      key: 'amount',
      resumeQuestion: (ctx) => ctx.t('resume.repay', { amount: num(ctx, 'amount'), other: str(ctx, 'other') }),
    },
    render: async (ctx) => {
      const loan = await ctx.backend.loan(str(ctx, 'loanId'));
      const balance = await ctx.backend.balance();
      return { body: ctx.t('repay.amount', { other: str(ctx, 'other'), outstanding: loan.outstanding, balance }) };
    },
    onInput: async (input, ctx) => {
      const amount = parseAmount(input);
      if (amount === null || amount < 1) return { invalid: 'invalid.option' };
      const loan = await ctx.backend.loan(str(ctx, 'loanId'));
      if (amount > loan.outstanding) return { invalid: 'invalid.moreThanOwed', params: { max: loan.outstanding } };
      const balance = await ctx.backend.balance();
      if (amount > balance) return { invalid: 'invalid.moreThanBalance', params: { max: balance } };
      ctx.data.amount = amount;
      return requirePin(ctx, 'repay');
    },
  },
  {
    id: ScreenId.RepayDone,
    leadsTo: [],
    render: (ctx) => ({
      body: ctx.t('repay.done', {
        amount: num(ctx, 'amount'),
        other: str(ctx, 'other'),
        outstanding: num(ctx, 'outstanding'),
      }),
    }),
  },
];

export const repayActions: Record<string, PinAction> = {
  repay: async (ctx) => {
    const loan = await ctx.backend.repay(str(ctx, 'loanId'), num(ctx, 'amount'), ctx.actionKey('repay'));
    ctx.data.outstanding = loan.outstanding;
    return { finish: ScreenId.RepayDone };
  },
};
