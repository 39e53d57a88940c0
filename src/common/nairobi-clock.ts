/**
 * Nairobi's wall clock, the one place that knows it: Kenya has been on UTC+3 with no daylight
 * saving since 1960, so a fixed offset is exact. Screens, SMS and Daraja timestamps all read it here.
 */
export const NAIROBI_OFFSET_MS = 3 * 3_600_000;

/** A Date whose UTC fields read as Nairobi's wall clock at `epochMs` (use getUTC*, never getHours). */
export function nairobiWallClock(epochMs: number): Date {
  return new Date(epochMs + NAIROBI_OFFSET_MS);
}

/** The instant at which Nairobi's wall clock reads the given fields (month 1-12). */
export function fromNairobiWallClock(year: number, month: number, day: number, h: number, mi: number, s: number): Date {
  return new Date(Date.UTC(year, month - 1, day, h, mi, s) - NAIROBI_OFFSET_MS);
}

const two = (n: number) => String(n).padStart(2, '0');

/** HH:MM in Nairobi. */
export function nairobiTime(epochMs: number): string {
  const d = nairobiWallClock(epochMs);
  return `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}`;
}

/** DD/MM in Nairobi. */
export function nairobiDayMonth(epochMs: number): string {
  const d = nairobiWallClock(epochMs);
  return `${two(d.getUTCDate())}/${two(d.getUTCMonth() + 1)}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Mar 2026": the month and year in Nairobi (a member since). */
export function nairobiMonthYear(epochMs: number): string {
  const d = nairobiWallClock(epochMs);
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

/** YYYYMMDD in Nairobi: a day's key. */
export function nairobiDayKey(epochMs: number): string {
  const d = nairobiWallClock(epochMs);
  return `${d.getUTCFullYear()}${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}`;
}
