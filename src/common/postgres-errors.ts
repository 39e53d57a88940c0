import {
  CannotExecuteNotConnectedError,
  CannotGetEntityManagerNotConnectedError,
  ConnectionIsNotSetError,
  EntityMetadataNotFoundError,
} from 'typeorm';

/** PostgreSQL's SQLSTATE for a unique constraint violation. */
export const PG_UNIQUE_VIOLATION = '23505';

/**
 * The constraint a query broke when `e` is a unique violation (as pg or TypeORM's
 * QueryFailedError carry it; '' when PostgreSQL named none), else null.
 */
export function uniqueViolation(e: unknown): string | null {
  const err = e as { code?: string; constraint?: string; driverError?: { code?: string; constraint?: string } } | null;
  const code = err?.driverError?.code ?? err?.code;
  return code === PG_UNIQUE_VIOLATION ? (err?.driverError?.constraint ?? err?.constraint ?? '') : null;
}

/** Socket-level failures (ENOTFOUND/EAI_AGAIN too: a stopped container's name stops resolving). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** The server is going down or not accepting connections yet (shutdown, crash, recovery). */
const SERVER_GONE = new Set(['57P01', '57P02', '57P03']);

/**
 * What pg, pg-pool and TypeORM say when a connection cannot be had or was lost ("timeout expired"
 * is pg's connect timeout, a server that accepts but never answers).
 */
const CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|^timeout expired$|Client has encountered a connection error|Connection is not established|Client was closed and is not queryable|Driver not Connected/i;

/** pg-pool's message when no connection came in time, which a merely busy pool also gives. */
export const POOL_WAIT_TIMEOUT = /timeout exceeded when trying to connect/i;

function unavailable(err: unknown, depth: number): boolean {
  if (typeof err !== 'object' || err === null || depth > 3) return false;
  // The DataSource is not connected (yet): TypeORM's own errors for using it anyway.
  if (
    err instanceof EntityMetadataNotFoundError ||
    err instanceof CannotExecuteNotConnectedError ||
    err instanceof CannotGetEntityManagerNotConnectedError ||
    err instanceof ConnectionIsNotSetError
  ) {
    return true;
  }
  const { code, message, driverError, cause, errors } = err as {
    code?: unknown;
    message?: unknown;
    driverError?: unknown;
    cause?: unknown;
    errors?: unknown;
  };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || SERVER_GONE.has(code) || /^08[0-9A-Z]{3}$/.test(code))) {
    return true;
  }
  if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true;
  // TypeORM wraps pg's error (QueryFailedError.driverError); Node wraps the failures of each address
  // it tried (AggregateError.errors).
  const nested = [driverError, cause, ...(Array.isArray(errors) ? (errors as unknown[]) : [])];
  return nested.some((e) => unavailable(e, depth + 1));
}

/** Whether an error means "PostgreSQL cannot be reached" (as opposed to a bad query or a rule). */
export function isDatabaseUnavailable(err: unknown): boolean {
  return unavailable(err, 0);
}
