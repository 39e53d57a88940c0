import { randomBytes } from 'node:crypto';

/**
 * Names owned by this test run. Everything the run creates in PostgreSQL and Redis carries its
 * id, so a run never touches a dev server's data or another run's.
 */
export interface TestRun {
  id: string;
  /**
   * This test file's own database, a copy of the template made for it by the test environment
   * (test/support/database-environment.js): one file's background jobs never see another's rows.
   */
  databaseUrl: string;
  /** The run's migrated database that each file's is copied from; nothing connects to it. */
  templateDatabaseUrl: string;
  redisUrl: string;
  redisKeyPrefix: string;
}

export function newRunId(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export const RUN_ENV = 'DENI_TEST_RUN';

/** The run described by the global setup (read from the environment it exported). */
export function currentRun(): TestRun {
  const raw = process.env[RUN_ENV];
  if (!raw) throw new Error('no test run: start tests with `npm test`');
  return JSON.parse(raw) as TestRun;
}
