import { createHash } from 'node:crypto';

/** A UUID made from a string (name-based, version 5 layout): the same name, the same id, always. */
export function uuidFrom(name: string): string {
  const b = createHash('sha256').update(name).digest();
  b[6] = (b[6] & 0x0f) | 0x50; // version 5 (name-based)
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const h = b.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` is spelled as a UUID: ids from a URL are checked before PostgreSQL sees them. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
