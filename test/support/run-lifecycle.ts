import { Redis } from 'ioredis';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { createDatabaseIfMissing } from '../../src/database/create-database.js';
import { runMigrations } from '../../src/database/connect-database.js';
import { dataSourceOptions } from '../../src/database/data-source.options.js';
import { loadConfig } from '../../src/config/app-config.js';
import { ensureLocalServices, type LocalServices } from '../../src/local-services/local-services.js';
import { currentRun, newRunId, RUN_ENV, withDatabase, type TestRun } from './test-env.js';

declare global {
  // Shared with the global teardown, which runs in this same process.
  var __DENI_LOCAL_SERVICES__: LocalServices | undefined;
}

/**
 * The run's lifecycle, loaded by the global setup and teardown through tsx (Jest runs those
 * outside its module system, where TypeScript sources cannot be imported directly).
 */
export async function setUpRun(): Promise<void> {
  const base = loadConfig({ NODE_ENV: 'test' });
  const log = {
    info: (m: string) => process.stderr.write(`[test setup] ${m}\n`),
    warn: (m: string) => process.stderr.write(`[test setup] ${m}\n`),
  };
  globalThis.__DENI_LOCAL_SERVICES__ = await ensureLocalServices(
    { ...base, localServices: { ...base.localServices, enabled: true } },
    log,
  );

  const id = newRunId();
  const template = withDatabase(base.database.url, `deni_test_${id}_template`);
  const run: TestRun = {
    id,
    // Until a test file's environment gives it its own copy.
    databaseUrl: template,
    templateDatabaseUrl: template,
    redisUrl: base.redis.url,
    redisKeyPrefix: `deni-test-${id}`,
  };
  // Migrated once here; each file's database is a copy (CREATE DATABASE … TEMPLATE), far cheaper
  // than migrating one per file. Closed again, since a template must have no connections.
  await createDatabaseIfMissing(template);
  const ds = await new DataSource(dataSourceOptions({ database: { ...base.database, url: template } })).initialize();
  try {
    await runMigrations(ds);
  } finally {
    await ds.destroy();
  }
  process.env[RUN_ENV] = JSON.stringify(run);
  process.env.NODE_ENV = 'test';
  process.env.DATABASE_URL = run.databaseUrl;
  process.env.REDIS_KEY_PREFIX = run.redisKeyPrefix;
  process.env.LOG_LEVEL ??= 'silent';
}

export async function deleteRedisKeys(redisUrl: string, patterns: string[]): Promise<number> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  let deleted = 0;
  try {
    for (const match of patterns) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
        cursor = next;
        if (keys.length) deleted += await redis.unlink(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
  return deleted;
}

/** Drops every database whose name starts with the run's: the template and any file's left over. */
export async function dropRunDatabases(run: TestRun): Promise<string[]> {
  const admin = withDatabase(run.templateDatabaseUrl, 'postgres');
  const client = new Client({ connectionString: admin });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname`,
      [`deni_test_${run.id}`],
    );
    for (const { datname } of rows) {
      await client.query(`DROP DATABASE IF EXISTS "${datname.replace(/"/g, '""')}" WITH (FORCE)`);
    }
    return rows.map((r) => r.datname);
  } finally {
    await client.end();
  }
}

export async function tearDownRun(): Promise<void> {
  const run = currentRun();
  try {
    await dropRunDatabases(run);
    // Deni's own keys and BullMQ's (whose prefix is the same name as a hash tag), including the
    // per-app prefixes derived from the run's.
    await deleteRedisKeys(run.redisUrl, [`${run.redisKeyPrefix}*`, `{${run.redisKeyPrefix}*`]);
  } finally {
    await globalThis.__DENI_LOCAL_SERVICES__?.stop();
  }
}
