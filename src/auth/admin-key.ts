import { createHash, timingSafeEqual } from 'node:crypto';
import { isLoopbackAddress } from '../common/ip-allowlist.js';

export const ADMIN_KEY_HEADER = 'x-api-key';

/**
 * True when the presented secret matches the configured one, compared in constant time; true
 * whenever none is configured. Admin routes do not use it alone: see adminRefusal.
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

/** Why an admin request is refused: the HTTP status, a stable code and a message. */
export interface AdminRefusal {
  kind: 'unauthorized' | 'forbidden';
  status: 401 | 403;
  code: 'AUTH.ADMIN_KEY_REQUIRED' | 'AUTH.ADMIN_LOOPBACK_ONLY';
  message: string;
}

/**
 * The one rule of every admin route (operator APIs, the queue dashboard, the simulator's
 * controls); null when the request may pass. With ADMIN_API_KEY set, the key is required from
 * everyone. With none (allowed only where production rules do not apply), only a caller whose
 * socket is on loopback passes: `socketAddress` is the TCP peer, never request.ip, which
 * X-Forwarded-For decides under TRUST_PROXY.
 */
export function adminRefusal(
  configured: string | undefined,
  presented: unknown,
  socketAddress: string | undefined,
): AdminRefusal | null {
  if (configured) {
    if (adminKeyMatches(configured, presented)) return null;
    return {
      kind: 'unauthorized',
      status: 401,
      code: 'AUTH.ADMIN_KEY_REQUIRED',
      message: `A valid ${ADMIN_KEY_HEADER} header is required`,
    };
  }
  if (isLoopbackAddress(socketAddress)) return null;
  return {
    kind: 'forbidden',
    status: 403,
    code: 'AUTH.ADMIN_LOOPBACK_ONLY',
    message: 'No ADMIN_API_KEY is set: admin routes answer only on this machine (loopback)',
  };
}
