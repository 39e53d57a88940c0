import type { MessageKey } from '../i18n/en.js';
import { navigationFooter } from './journey-engine.js';
import { ScreenId, type Next, type ScreenContext, type ScreenDef } from './types.js';

/** The most items a page of a list screen holds; fewer when their lines are long (see listScreen). */
export const PAGE_SIZE = 3;

/**
 * What the engine may put above a list screen (one line, never two): the reason a list asks
 * again, or offline the age of what it shows. A page keeps room for the longest of them.
 */
const LINES_ABOVE: MessageKey[] = ['invalid.option', 'invalid.listChanged'];

export interface ListScreenSpec<T> {
  id: ScreenId;
  leadsTo: ScreenId[];
  title: MessageKey;
  empty: MessageKey;
  /** Up to `limit` items from `offset`, and how many there are in all. */
  fetch(ctx: ScreenContext, offset: number, limit: number): Promise<{ items: T[]; total: number }>;
  /** The numbered line for an item (n counts from 1 on each page). */
  line(item: T, n: number, ctx: ScreenContext): string;
  /** A stable identity of an item, to notice when the list changed under the subscriber. */
  key(item: T): string;
  /** Where choosing an item leads. */
  select(item: T, ctx: ScreenContext): Next | Promise<Next>;
}

/** Characters a page's title and lines may take: the screen less its footer and the line above. */
function room(ctx: ScreenContext, more: boolean): number {
  const above = Math.max(
    ...LINES_ABOVE.map((key) => ctx.t(key).length),
    ctx.t('offline.asOf', { time: '00:00' }).length,
  );
  return ctx.settings.maxChars - navigationFooter(ctx.t, more, true).length - 1 - above - 1;
}

/**
 * A paginated pick-one list, the same for every menu: title, numbered lines, "98. More" while
 * there are more, and a choice by number among the lines shown.
 *
 * A page holds up to PAGE_SIZE items, fewer when their lines would not fit a screen with the
 * footer and a reason above (long numbers and amounts, Kiswahili): no item is ever cut or dropped
 * from a screen. Pages are therefore not all the same size: each page remembers where the next
 * one starts, and 98 goes on from there.
 */
export function listScreen<T>(spec: ListScreenSpec<T>): ScreenDef {
  const shownKey = `shown:${spec.id}`;
  const startsKey = `starts:${spec.id}`;
  /** Where each page starts, as far as the pages shown so far tell. */
  const starts = (ctx: ScreenContext): number[] =>
    String(ctx.data[startsKey] ?? '0')
      .split(',')
      .map(Number);
  const page = async (ctx: ScreenContext) => {
    // A page not reached through 98 (a session saved before pages varied): the full-size offset.
    const offset = starts(ctx)[ctx.page] ?? ctx.page * PAGE_SIZE;
    return { offset, ...(await spec.fetch(ctx, offset, PAGE_SIZE)) };
  };
  return {
    id: spec.id,
    leadsTo: spec.leadsTo,
    render: async (ctx) => {
      const { offset, items, total } = await page(ctx);
      if (!total) return { body: `${ctx.t(spec.title)}\n${ctx.t(spec.empty)}` };
      const title = ctx.t(spec.title);
      const lines = items.map((item, i) => spec.line(item, i + 1, ctx));
      let count = lines.length;
      const fits = (n: number) => [title, ...lines.slice(0, n)].join('\n').length <= room(ctx, offset + n < total);
      while (count > 1 && !fits(count)) count -= 1;
      ctx.data[shownKey] = items
        .slice(0, count)
        .map((item) => spec.key(item))
        .join(',');
      ctx.data[startsKey] = [...starts(ctx).slice(0, ctx.page + 1), offset + count].join(',');
      return { body: [title, ...lines.slice(0, count)].join('\n'), hasMore: offset + count < total };
    },
    onInput: async (input, ctx) => {
      const { items } = await page(ctx);
      const shown = String(ctx.data[shownKey] ?? '').split(',');
      const n = /^\d{1,2}$/.test(input) ? Number(input) : 0;
      if (n < 1 || n > Math.min(items.length, shown.length)) return { invalid: 'invalid.option' };
      // A new entry since the list was shown would shift the numbers: never open the wrong one.
      if (shown[n - 1] !== spec.key(items[n - 1])) return { invalid: 'invalid.listChanged' };
      return spec.select(items[n - 1], ctx);
    },
  };
}
