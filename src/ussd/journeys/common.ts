import { formatLocal } from '../../common/phone-number.js';
import type { ScreenContext } from '../engine/types.js';

/** A whole number of shillings typed on a keypad, or null. */
export function parseAmount(input: string): number | null {
  if (!/^\d{1,9}$/.test(input)) return null;
  const n = Number(input);
  return Number.isSafeInteger(n) ? n : null;
}

/** A numbered choice 1..count, or null. */
export function parseChoice(input: string, count: number): number | null {
  if (!/^\d{1,2}$/.test(input)) return null;
  const n = Number(input);
  return n >= 1 && n <= count ? n : null;
}

/** A number as every screen shows it: `0712 345 678` (see formatLocal). */
export function local(msisdn: string): string {
  return formatLocal(msisdn);
}

export function str(ctx: Pick<ScreenContext, 'data'>, key: string): string {
  const v = ctx.data[key];
  if (typeof v !== 'string') throw new Error(`journey value ${key} is missing`);
  return v;
}

export function num(ctx: Pick<ScreenContext, 'data'>, key: string): number {
  const v = ctx.data[key];
  if (typeof v !== 'number') throw new Error(`journey value ${key} is missing`);
  return v;
}
