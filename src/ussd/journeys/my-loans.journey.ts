import { listScreen } from '../engine/list-screen.js';
import { ScreenId, type ScreenDef } from '../engine/types.js';
import { local, str } from './common.js';

/** 2. View My Loans — as borrower and as lender, newest first, a page at a time. */
export const myLoansScreens: ScreenDef[] = [
  listScreen({
    id: ScreenId.LoansList,
    leadsTo: [ScreenId.LoanDetail],
    title: 'loans.title',
    empty: 'loans.empty',
    fetch: (ctx, offset, limit) => ctx.services.loans.listForUser(ctx.user.id, { role: 'any', limit, offset }),
    line: (loan, n, ctx) => {
      const borrowed = loan.borrowerId === ctx.user.id;
      const other = local((borrowed ? loan.lender : loan.borrower)?.phoneNumber ?? '');
      return ctx.t(borrowed ? 'loans.line.borrowed' : 'loans.line.lent', { n, other, amount: loan.principal });
    },
    key: (loan) => loan.id,
    select: (loan, ctx) => {
      ctx.data.loanId = loan.id;
      return { go: ScreenId.LoanDetail };
    },
  }),
  {
    id: ScreenId.LoanDetail,
    leadsTo: [],
    render: async (ctx) => {
      const { loan } = await ctx.services.loans.getForParty(str(ctx, 'loanId'), ctx.user.id);
      const borrowed = loan.borrowerId === ctx.user.id;
      const other = local((borrowed ? loan.lender : loan.borrower)?.phoneNumber ?? '');
      return {
        body: ctx.t(borrowed ? 'loans.detail.borrowed' : 'loans.detail.lent', {
          other,
          amount: loan.principal,
          outstanding: loan.outstanding,
          repayment: loan.repaymentPerDeposit,
          status: ctx.t(`status.${loan.status}`),
        }),
      };
    },
  },
];
