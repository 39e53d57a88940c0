import { ScreenId, type ScreenContext, type ScreenDef } from '../engine/types.js';
import { local, PAGE_SIZE, parseChoice, str } from './common.js';

async function page(ctx: ScreenContext) {
  return ctx.services.loans.listForUser(ctx.user.id, { role: 'any', limit: PAGE_SIZE, offset: ctx.page * PAGE_SIZE });
}

/** 2. View My Loans — as borrower and as lender, newest first, three a page. */
export const myLoansScreens: ScreenDef[] = [
  {
    id: ScreenId.LoansList,
    leadsTo: [ScreenId.LoanDetail],
    render: async (ctx) => {
      const { items, total } = await page(ctx);
      if (!total) return { body: `${ctx.t('loans.title')}\n${ctx.t('loans.empty')}` };
      const lines = items.map((loan, i) => {
        const borrowed = loan.borrowerId === ctx.user.id;
        const other = local((borrowed ? loan.lender : loan.borrower)?.phoneNumber ?? '');
        return ctx.t(borrowed ? 'loans.line.borrowed' : 'loans.line.lent', { n: i + 1, other, amount: loan.principal });
      });
      return { body: [ctx.t('loans.title'), ...lines].join('\n'), hasMore: (ctx.page + 1) * PAGE_SIZE < total };
    },
    onInput: async (input, ctx) => {
      const { items } = await page(ctx);
      const choice = parseChoice(input, items.length);
      if (!choice) return { invalid: 'invalid.option' };
      ctx.data.loanId = items[choice - 1].id;
      return { go: ScreenId.LoanDetail };
    },
  },
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
