import { nairobiDayMonth } from '../../common/nairobi-clock.js';
import { ScreenId, type ScreenContext, type ScreenDef } from '../engine/types.js';
import { PAGE_SIZE } from '../engine/list-screen.js';

async function page(ctx: ScreenContext) {
  // Each page remembers the cursor that leads to the next one.
  const before = ctx.page > 0 ? ctx.data[`txCursor${ctx.page}`] : undefined;
  const result = await ctx.backend.history(PAGE_SIZE, typeof before === 'string' ? before : undefined);
  if (result.nextCursor) ctx.data[`txCursor${ctx.page + 1}`] = result.nextCursor;
  return result;
}

/** 5. Transactions — the latest ledger entries of the wallet, three a page. */
export const transactionsScreens: ScreenDef[] = [
  {
    id: ScreenId.Transactions,
    leadsTo: [],
    render: async (ctx) => {
      const { items, nextCursor } = await page(ctx);
      if (!items.length && ctx.page === 0) return { body: `${ctx.t('tx.title')}\n${ctx.t('tx.empty')}` };
      const lines = items.map((entry) =>
        ctx.t('tx.line', {
          date: nairobiDayMonth(entry.at),
          kind: ctx.t(`tx.kind.${entry.kind}`),
          amount: entry.amount > 0 ? `+${entry.amount}` : String(entry.amount),
        }),
      );
      return { body: [ctx.t('tx.title'), ...lines].join('\n'), hasMore: nextCursor !== null };
    },
  },
];
