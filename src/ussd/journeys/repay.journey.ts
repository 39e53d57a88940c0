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
    fetch: (ctx, offset, limit) => ctx.services.loans.listForUser(ctx.user.id, { role: 'borrower', status: ['ACTIVE'], limit, offset }),
    line: (loan, n, ctx) => ctx.t('repay.line', { n, other: local(loan.lender?.phoneNumber ?? ''), outstanding: loan.outstanding }),
    key: (loan) => loan.id,
    select: (loan, ctx) => {
      ctx.data.loanId = loan.id;
      ctx.data.other = local(loan.lender?.phoneNumber ?? '');
      return { go: ScreenId.RepayAmount };
    },
  }),
  {
    id: ScreenId.RepayAmount,
    leadsTo: [ScreenId.PinEnter, ScreenId.PinCreate],
    render: async (ctx) => {
      const { loan } = await ctx.services.loans.getForParty(str(ctx, 'loanId'), ctx.user.id);
      const balance = await ctx.services.wallet.balance(ctx.user.id);
      return { body: ctx.t('repay.amount', { other: str(ctx, 'other'), outstanding: loan.outstanding, balance }) };
    },
    onInput: async (input, ctx) => {
      const amount = parseAmount(input);
      if (amount === null || amount < 1) return { invalid: 'invalid.option' };
      const { loan } = await ctx.services.loans.getForParty(str(ctx, 'loanId'), ctx.user.id);
      if (amount > loan.outstanding) return { invalid: 'invalid.moreThanOwed', params: { max: loan.outstanding } };
      const balance = await ctx.services.wallet.balance(ctx.user.id);
      if (amount > balance) return { invalid: 'invalid.moreThanBalance', params: { max: balance } };
      ctx.data.amount = amount;
      return requirePin(ctx, 'repay');
    },
  },
  {
    id: ScreenId.RepayDone,
    leadsTo: [],
    render: (ctx) => ({
      body: ctx.t('repay.done', { amount: num(ctx, 'amount'), other: str(ctx, 'other'), outstanding: num(ctx, 'outstanding') }),
    }),
  },
];

export const repayActions: Record<string, PinAction> = {
  repay: async (ctx) => {
    const loan = await ctx.services.loans.repay(str(ctx, 'loanId'), ctx.user.id, num(ctx, 'amount'), ctx.actionKey('repay'));
    ctx.data.outstanding = loan.outstanding;
    return { finish: ScreenId.RepayDone };
  },
};
