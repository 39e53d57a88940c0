/**
 * What went wrong, in terms a client can act on. The HTTP status is derived from the kind in
 * exactly one place (DomainExceptionFilter); the USSD engine and queue workers read the code.
 */
export type DomainErrorKind =
  | 'invalid' // the request is well-formed but breaks a rule (400 / 422)
  | 'unauthorized' // who you are is not established (401)
  | 'forbidden' // you may not do this (403)
  | 'not_found' // 404
  | 'conflict' // the state does not allow it, or an idempotency key was reused differently (409)
  | 'locked' // temporarily refused, e.g. PIN lockout (423)
  | 'rate_limited' // 429
  | 'unavailable'; // a dependency is down; retrying later may work (503)

export class DomainError extends Error {
  constructor(
    /** Stable, documented, never reworded: `MODULE.REASON`, e.g. `USER.PIN_LOCKED`. */
    readonly code: string,
    readonly kind: DomainErrorKind,
    message: string,
    /** Safe to show to the caller; never secrets. */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export function isDomainError(e: unknown, code?: string): e is DomainError {
  return e instanceof DomainError && (code === undefined || e.code === code);
}
