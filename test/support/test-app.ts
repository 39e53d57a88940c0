import { randomBytes, randomInt } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app.factory.js';
import { loadConfig, type AppConfig } from '../../src/config/app-config.js';
import { currentRun } from './test-env.js';

/** A configuration for this test run, with overrides as environment variables would give them. */
export function testConfig(overrides: Record<string, string | undefined> = {}): AppConfig {
  // Daraja's (simulated) callbacks go nowhere unless a test listens and says where: never to a
  // development server that may be running on this machine's PORT.
  return loadConfig({
    NODE_ENV: 'test',
    LOCAL_SERVICES: 'false',
    MPESA_CALLBACK_BASE_URL: 'http://127.0.0.1:9',
    ...overrides,
  });
}

let apps = 0;

/**
 * A Redis key prefix of its own under this run's prefix. Apps get one each by default, so one
 * test file's workers never take another file's jobs; apps that must share queues pass the same.
 */
export function ownRedisPrefix(): string {
  apps += 1;
  // Jest reuses worker processes across test files (the counter restarts with each file), so
  // random bytes keep prefixes of different files apart.
  return `${currentRun().redisKeyPrefix}-${randomBytes(3).toString('hex')}${apps}`;
}

/** The real application (same factory as main.ts), ready for `app.inject`. */
export async function startTestApp(overrides: Record<string, string | undefined> = {}) {
  const config = testConfig({ REDIS_KEY_PREFIX: ownRedisPrefix(), ...overrides });
  const app: NestFastifyApplication = await createApp(config);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return { app, config };
}

/** A random valid Kenyan mobile number (tests share one database, so numbers must not clash). */
export function uniquePhone(): string {
  return `2547${String(randomInt(0, 100_000_000)).padStart(8, '0')}`;
}
