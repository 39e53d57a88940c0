// Daraja's times are Nairobi wall-clock time without a zone: these write and read them.
import { fromNairobiWallClock, nairobiWallClock } from '../../common/nairobi-clock.js';

/** `YYYYMMDDHHmmss` in Nairobi time, as Daraja's Timestamp fields want. */
export function nairobiTimestamp(date: Date = new Date()): string {
  const iso = nairobiWallClock(date.getTime()).toISOString();
  return iso.slice(0, 19).replace(/[-T:]/g, '');
}

/** The inverse of nairobiTimestamp (also reads TransactionDate and TransTime); undefined when malformed. */
export function darajaTimestampToDate(timestamp: string | number): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(String(timestamp));
  if (!m) return undefined;
  return fromNairobiParts(m[1], m[2], m[3], m[4], m[5], m[6]);
}

/** A Nairobi time from its parts as written (year, month, day, hour, minute, second). */
export function fromNairobiParts(...parts: string[]): Date | undefined {
  const [y, mo, d, h, mi, s] = parts.map(Number);
  const date = fromNairobiWallClock(y, mo, d, h, mi, s);
  // Reject 20241332… rather than letting Date roll it over into another month.
  return nairobiTimestamp(date) === parts.join('') ? date : undefined;
}
