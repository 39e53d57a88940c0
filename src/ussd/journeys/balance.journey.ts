import { ScreenId, type ScreenDef } from '../engine/types.js';

/** 4. View Balance — wallet, what you owe, what you are owed. */
export const balanceScreens: ScreenDef[] = [
  {
    id: ScreenId.Balance,
    leadsTo: [],
    render: async (ctx) => {
      const summary = await ctx.backend.summary();
      return { body: ctx.t('balance.text', { balance: summary.balance, owing: summary.owing, owed: summary.owed }) };
    },
  },
];
