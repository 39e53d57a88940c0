import { createHash, timingSafeEqual } from 'node:crypto';

export const ADMIN_KEY_HEADER = 'x-api-key';

/**
 * True when the presented key matches the configured one. With no key configured (allowed only
 * outside production) every request passes; the start-up log says so.
 */
export function adminKeyMatches(configured: string | undefined, presented: unknown): boolean {
  if (!configured) return true;
  if (typeof presented !== 'string' || presented.length === 0) return false;
  // Hash both sides so the comparison takes the same time whatever the lengths. The configured
  // key's digest is computed once (it is checked on every webhook and admin request).
  const a = configuredDigest(configured);
  const b = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, b);
}

let lastConfigured: { key: string; digest: Buffer } | undefined;
function configuredDigest(key: string): Buffer {
  if (lastConfigured?.key !== key) lastConfigured = { key, digest: createHash('sha256').update(key).digest() };
  return lastConfigured.digest;
}
