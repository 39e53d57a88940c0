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
    fetch: (ctx, offset, limit) => ctx.backend.loans('all', offset, limit),
    line: (loan, n, ctx) =>
      ctx.t(loan.role === 'borrower' ? 'loans.line.borrowed' : 'loans.line.lent', {
        n,
        other: local(loan.other),
        amount: loan.principal,
      }),
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
      const loan = await ctx.backend.loan(str(ctx, 'loanId'));
      return {
        body: ctx.t(loan.role === 'borrower' ? 'loans.detail.borrowed' : 'loans.detail.lent', {
          other: local(loan.other),
          amount: loan.principal,
          outstanding: loan.outstanding,
          repayment: loan.repaymentPerDeposit,
          status: ctx.t(`status.${loan.status}`),
        }),
      };
    },
  },
];
