import { Redis } from 'ioredis';
import { createDatabaseIfMissing, dropDatabase } from '../../src/database/create-database.js';
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
  const run: TestRun = {
    id,
    databaseUrl: withDatabase(base.database.url, `deni_test_${id}`),
    redisUrl: base.redis.url,
    redisKeyPrefix: `deni-test-${id}`,
  };
  await createDatabaseIfMissing(run.databaseUrl);
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

export async function tearDownRun(): Promise<void> {
  const run = currentRun();
  try {
    await dropDatabase(run.databaseUrl);
    // Deni's own keys and BullMQ's (whose prefix is the same name as a hash tag), including the
    // per-app prefixes derived from the run's.
    await deleteRedisKeys(run.redisUrl, [`${run.redisKeyPrefix}*`, `{${run.redisKeyPrefix}*`]);
  } finally {
    await globalThis.__DENI_LOCAL_SERVICES__?.stop();
  }
}
