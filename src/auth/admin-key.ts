import { createHash, timingSafeEqual } from 'node:crypto';

export const ADMIN_KEY_HEADER = 'x-api-key';

/**
 * True when the presented key matches the configured one. With no key configured (allowed only
 * outside production) every request passes; the start-up log says so.
 */
export function adminKeyMatches(configured: string | undefined, presented: unknown): boolean {
  if (!configured) return true;
  if (typeof presented !== 'string' || presented.length === 0) return false;
  // Hash both sides so the comparison takes the same time whatever the lengths.
  const a = createHash('sha256').update(configured).digest();
  const b = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, b);
}
