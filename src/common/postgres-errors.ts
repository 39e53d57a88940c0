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
