import { randomBytes, randomInt } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import { createApp } from '../../src/app.factory.js';
import { loadConfig, type AppConfig } from '../../src/config/app-config.js';
import type { DarajaSimulator } from '../../src/simulators/daraja/daraja-simulator.js';
import { startTestSimulators, type TestSimulators } from './simulators.js';
import { currentRun } from './test-env.js';

/** A configuration for this test run, with overrides as environment variables would give them. */
export function testConfig(overrides: Record<string, string | undefined> = {}): AppConfig {
  // Daraja's (simulated) callbacks go nowhere unless a test listens and says where: never to a
  // development server that may be running on this machine's PORT.
  return loadConfig({
    NODE_ENV: 'test',
    LOCAL_SERVICES: 'false',
    MPESA_CALLBACK_BASE_URL: 'http://127.0.0.1:9',
    // A USSD step falls back to its offline answer after this long on PostgreSQL. Production's
    // second is about the gateway's timeout; on a busy test machine a healthy database can take
    // longer, and a test expecting the online answer would get the offline one. Tests of the
    // deadline itself set their own.
    USSD_DB_DEADLINE_MS: '5000',
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

/**
 * The real application (same factory as main.ts), ready for `app.inject`. Unless `overrides` say
 * where Daraja is (MPESA_BASE_URL, even as undefined), it talks to simulators of its own started
 * beside it in this test process (`simulators`; `daraja` is their Daraja), as Deni talks to the
 * simulators process in development; they also serve AT_BASE_URL unless given, and close with
 * the app.
 */
export async function startTestApp(
  overrides: Record<string, string | undefined> = {},
  options: { logger?: (config: AppConfig) => Logger } = {},
): Promise<{
  app: NestFastifyApplication;
  config: AppConfig;
  simulators: TestSimulators | undefined;
  /** The simulators' Daraja; throws when the app was given MPESA_BASE_URL (it has none of its own). */
  readonly daraja: DarajaSimulator;
}> {
  const prefix = ownRedisPrefix();
  let simulators: TestSimulators | undefined;
  if (!('MPESA_BASE_URL' in overrides)) {
    // The credentials Deni will present, which a test may have changed.
    const wanted = testConfig({ REDIS_KEY_PREFIX: prefix, ...overrides });
    const { consumerKey, consumerSecret, passkey, initiatorName, initiatorPassword } = wanted.mpesa;
    const { username, apiKey } = wanted.sms.africasTalking;
    simulators = await startTestSimulators({
      daraja: { consumerKey, consumerSecret, passkey, initiatorName, initiatorPassword },
      sms: { ...(username ? { username } : {}), ...(apiKey ? { apiKey } : {}) },
    });
  }
  try {
    const config = testConfig({
      REDIS_KEY_PREFIX: prefix,
      ...(simulators ? { MPESA_BASE_URL: simulators.url, AT_BASE_URL: simulators.url } : {}),
      ...overrides,
    });
    const app: NestFastifyApplication = await createApp(config, { logger: options.logger?.(config) });
    if (simulators) {
      // Closing the app closes its HTTP server (Fastify), and with it the simulators.
      const own = simulators;
      app
        .getHttpAdapter()
        .getInstance()
        .addHook('onClose', () => own.close());
    }
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    return {
      app,
      config,
      simulators,
      get daraja(): DarajaSimulator {
        if (!simulators) throw new Error('this app was given MPESA_BASE_URL: it has no simulators of its own');
        return simulators.daraja;
      },
    };
  } catch (e) {
    await simulators?.close();
    throw e;
  }
}

/** A random valid Kenyan mobile number (tests share one database, so numbers must not clash). */
export function uniquePhone(): string {
  return `2547${String(randomInt(0, 100_000_000)).padStart(8, '0')}`;
}
