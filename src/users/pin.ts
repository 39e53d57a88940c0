import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type PinRejection = 'PIN.FORMAT' | 'PIN.TRIVIAL';

const FOUR_DIGITS = /^\d{4}$/;

/** Why a PIN may not be chosen, or null when it may. */
export function pinRejection(pin: unknown): PinRejection | null {
  if (typeof pin !== 'string' || !FOUR_DIGITS.test(pin)) return 'PIN.FORMAT';
  const d = [...pin].map(Number);
  const allSame = d.every((x) => x === d[0]);
  const ascending = d.every((x, i) => i === 0 || x === d[i - 1] + 1);
  const descending = d.every((x, i) => i === 0 || x === d[i - 1] - 1);
  return allSame || ascending || descending ? 'PIN.TRIVIAL' : null;
}

const VERSION = 'v1';

/**
 * HMAC-SHA-256 keyed with the server's PIN_PEPPER over a per-user salt and the PIN.
 * With only 10,000 PINs a slow hash would not help against someone holding the table; the
 * pepper (kept out of the database) and the lockout do. HMAC keeps the check well under a
 * millisecond, inside the USSD latency budget.
 */
export function hashPin(pin: string, pepper: string, salt: Buffer = randomBytes(16)): string {
  const mac = createHmac('sha256', pepper).update(salt).update(pin).digest();
  return `${VERSION}$${salt.toString('base64url')}$${mac.toString('base64url')}`;
}

export function pinMatches(pin: string, stored: string, pepper: string): boolean {
  const [version, saltText, macText] = stored.split('$');
  if (version !== VERSION || !saltText || !macText) return false;
  const expected = Buffer.from(macText, 'base64url');
  const actual = createHmac('sha256', pepper).update(Buffer.from(saltText, 'base64url')).update(pin).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
