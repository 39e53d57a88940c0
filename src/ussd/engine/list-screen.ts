import type { MessageKey } from '../i18n/en.js';
import { ScreenId, type Next, type ScreenContext, type ScreenDef } from './types.js';

/** Items per page on list screens: short enough for 160 characters with the footer. */
export const PAGE_SIZE = 3;

export interface ListScreenSpec<T> {
  id: ScreenId;
  leadsTo: ScreenId[];
  title: MessageKey;
  empty: MessageKey;
  /** One page of items (PAGE_SIZE at `offset`) and how many there are in all. */
  fetch(ctx: ScreenContext, offset: number, limit: number): Promise<{ items: T[]; total: number }>;
  /** The numbered line for an item (n counts from 1 on each page). */
  line(item: T, n: number, ctx: ScreenContext): string;
  /** A stable identity of an item, to notice when the list changed under the subscriber. */
  key(item: T): string;
  /** Where choosing an item leads. */
  select(item: T, ctx: ScreenContext): Next | Promise<Next>;
}

/**
 * A paginated pick-one list, the same for every menu: title, up to PAGE_SIZE numbered lines,
 * "98. More" while there are more, and a choice by number among the lines shown.
 */
export function listScreen<T>(spec: ListScreenSpec<T>): ScreenDef {
  const page = (ctx: ScreenContext) => spec.fetch(ctx, ctx.page * PAGE_SIZE, PAGE_SIZE);
  const shownKey = `shown:${spec.id}`;
  return {
    id: spec.id,
    leadsTo: spec.leadsTo,
    render: async (ctx) => {
      const { items, total } = await page(ctx);
      if (!total) return { body: `${ctx.t(spec.title)}\n${ctx.t(spec.empty)}` };
      const lines = items.map((item, i) => spec.line(item, i + 1, ctx));
      ctx.data[shownKey] = items.map((item) => spec.key(item)).join(',');
      return { body: [ctx.t(spec.title), ...lines].join('\n'), hasMore: (ctx.page + 1) * PAGE_SIZE < total };
    },
    onInput: async (input, ctx) => {
      const { items } = await page(ctx);
      const n = /^\d{1,2}$/.test(input) ? Number(input) : 0;
      if (n < 1 || n > items.length) return { invalid: 'invalid.option' };
      // A new entry since the list was shown would shift the numbers: never open the wrong one.
      const shown = String(ctx.data[shownKey] ?? '').split(',');
      if (shown[n - 1] !== spec.key(items[n - 1])) return { invalid: 'invalid.listChanged' };
      return spec.select(items[n - 1], ctx);
    },
  };
}
