import { isDomainError } from '../../common/domain-error.js';
import { listScreen } from '../engine/list-screen.js';
import { ScreenId, type ScreenDef } from '../engine/types.js';
import { local, num, str } from './common.js';
import { requirePin, type PinAction } from './pin.journey.js';

/** 3. Approve Loan — requests waiting for this lender → details → approve or decline → PIN. */
export const approveScreens: ScreenDef[] = [
  listScreen({
    id: ScreenId.ApproveList,
    leadsTo: [ScreenId.ApproveDetail],
    title: 'approve.title',
    empty: 'approve.empty',
    fetch: (ctx, offset, limit) => ctx.backend.loans('awaiting-me', offset, limit),
    line: (loan, n, ctx) => ctx.t('approve.line', { n, other: local(loan.other), amount: loan.principal }),
    key: (loan) => loan.id,
    select: (loan, ctx) => {
      ctx.data.loanId = loan.id;
      ctx.data.other = local(loan.other);
      ctx.data.amount = loan.principal;
      ctx.data.repayment = loan.repaymentPerDeposit;
      return { go: ScreenId.ApproveDetail };
    },
  }),
  {
    id: ScreenId.ApproveDetail,
    leadsTo: [ScreenId.PinEnter, ScreenId.PinCreate],
    render: (ctx) => ({
      body: ctx.t('approve.detail', {
        other: str(ctx, 'other'),
        amount: num(ctx, 'amount'),
        repayment: num(ctx, 'repayment'),
      }),
    }),
    onInput: (input, ctx) => {
      if (input === '1') return requirePin(ctx, 'approve');
      if (input === '2') return requirePin(ctx, 'decline');
      return { invalid: 'invalid.option' };
    },
  },
  {
    id: ScreenId.ApproveDone,
    leadsTo: [],
    render: (ctx) => ({ body: ctx.t('approve.done', { amount: num(ctx, 'amount'), other: str(ctx, 'other') }) }),
  },
  {
    // The lender's wallet cannot fund the loan: say so and offer an M-PESA top-up.
    id: ScreenId.ApproveShort,
    leadsTo: [ScreenId.TopUpAmount],
    render: (ctx) => ({ body: ctx.t('approve.short', { balance: num(ctx, 'balance'), needed: num(ctx, 'amount') }) }),
    onInput: (input) => (input === '1' ? { go: ScreenId.TopUpAmount } : { invalid: 'invalid.option' }),
  },
];

export const approveActions: Record<string, PinAction> = {
  approve: async (ctx) => {
    try {
      await ctx.backend.approve(str(ctx, 'loanId'), ctx.actionKey('approve'));
    } catch (e) {
      if (!isDomainError(e, 'WALLET.INSUFFICIENT_FUNDS')) throw e;
      ctx.data.balance = Number(e.details?.balance ?? 0);
      return { finish: ScreenId.ApproveShort };
    }
    return { finish: ScreenId.ApproveDone };
  },
  decline: async (ctx) => {
    await ctx.backend.decline(str(ctx, 'loanId'), ctx.actionKey('decline'));
    return { end: ctx.t('approve.declined', { other: str(ctx, 'other') }) };
  },
};
