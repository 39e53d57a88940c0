/**
 * Whether an error is ioredis saying Redis is not there (connection refused, closed, a command
 * timed out, the retries spent), as opposed to a command Redis refused.
 */
export function isRedisUnavailable(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: string } | null | undefined;
  return (
    e?.name === 'MaxRetriesPerRequestError' ||
    e?.code === 'ECONNREFUSED' ||
    /Command timed out|Connection is closed|Stream isn't writeable|ECONNREFUSED|ETIMEDOUT/.test(e?.message ?? '')
  );
}
