import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { TransactionService } from '../src/database/transaction.service.js';
import { Notification } from '../src/notifications/notification.entity.js';
import { NotificationsService } from '../src/notifications/notifications.service.js';
import { UsersService } from '../src/users/users.service.js';
import { freePort, ProcessTracker, redisCli, waitUntil } from './support/processes.js';
import { startTestApp, uniquePhone } from './support/test-app.js';
import { newRunId } from './support/test-env.js';
import { AtPhone } from './support/ussd-phone.js';

/**
 * Redis Cluster and Sentinel by configuration alone: the real application against a one-node
 * cluster and against a master watched by one sentinel, each started here on free ports.
 * A one-node cluster still refuses multi-key commands across slots (CROSSSLOT), so BullMQ working
 * at all proves its prefix is a hash tag.
 */

const processes = new ProcessTracker();
const tempDirs: string[] = [];

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

function redisServer(args: string[]) {
  const server = processes.spawn('redis-server', args);
  void server.exited.then((exit) => {
    if (exit.code !== 0 && exit.signal !== 'SIGTERM' && exit.signal !== 'SIGKILL') {
      process.stderr.write(`redis-server ${args.join(' ')} exited ${JSON.stringify(exit)}:\n${server.output.stdout}\n`);
    }
  });
  return server;
}

async function answersPing(port: number): Promise<boolean> {
  return (await redisCli(port, 'ping').catch(() => '')) === 'PONG';
}

/** A notification written in a transaction goes through BullMQ to the worker and ends up sent. */
async function notificationRoundTrip(app: NestFastifyApplication): Promise<Notification> {
  const transactions = app.get(TransactionService);
  const notifications = app.get(NotificationsService);
  const repo = app.get(DataSource).getRepository(Notification);
  const id = await transactions.run((tx) =>
    notifications.notify(tx, { phoneNumber: uniquePhone(), language: 'en', template: 'pin.changed', params: {} }),
  );
  return waitUntil(
    async () => {
      const row = await repo.findOneBy({ id });
      return row?.status === 'sent' ? row : undefined;
    },
    10_000,
    `notification ${id} sent`,
    100,
  );
}

async function expectReady(app: NestFastifyApplication): Promise<void> {
  const res = await app.inject({ method: 'GET', url: '/health/ready' });
  expect(res.statusCode).toBe(200);
  expect(res.json()).toMatchObject({ status: 'ok', details: { postgres: { status: 'up' }, redis: { status: 'up' } } });
}

afterAll(async () => {
  await processes.killAll();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('Redis Cluster (REDIS_MODE=cluster)', () => {
  const prefix = `deni-cluster-${newRunId()}`;
  let port: number;
  let app: NestFastifyApplication | undefined;

  beforeAll(async () => {
    const dir = tempDir('deni-redis-cluster-');
    port = await freePort();
    redisServer([
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--cluster-enabled',
      'yes',
      // A lone node has met no peer to learn its address from: without this it reports its own
      // address as "" in CLUSTER SLOTS, and clients cannot follow the slot map.
      '--cluster-announce-ip',
      '127.0.0.1',
      '--cluster-config-file',
      join(dir, 'nodes.conf'),
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
    await waitUntil(() => answersPing(port), 10_000, 'cluster node answers PING');
    expect(await redisCli(port, 'cluster', 'addslotsrange', '0', '16383')).toBe('OK');
    await waitUntil(
      async () => (await redisCli(port, 'cluster', 'info')).includes('cluster_state:ok'),
      15_000,
      'cluster_state:ok',
    );

    ({ app } = await startTestApp({
      REDIS_MODE: 'cluster',
      REDIS_CLUSTER_NODES: `127.0.0.1:${port}`,
      REDIS_KEY_PREFIX: prefix,
    }));
  }, 60_000);

  afterAll(async () => {
    await app?.close();
  });

  it('is ready', async () => {
    await expectReady(app!);
  });

  it('enforces CROSSSLOT even with one node (what makes the BullMQ round trip meaningful)', async () => {
    // `a` and `b` hash to slots 15495 and 3300; the command is refused, so nothing is written.
    expect(await redisCli(port, 'mset', 'a', '1', 'b', '2')).toMatch(/^CROSSSLOT/);
  });

  it('runs a BullMQ job end to end, with every queue key under the hash-tag prefix', async () => {
    const row = await notificationRoundTrip(app!);
    expect(row.attempts).toBe(1);
    const keys = (await redisCli(port, '--scan', '--pattern', '*')).split('\n').filter(Boolean);
    const queueKeys = keys.filter((k) => k.startsWith(`{${prefix}}:notifications:`));
    expect(queueKeys.length).toBeGreaterThan(0);
    // Nothing of BullMQ's outside the hash tag (which would put a queue's keys in several slots).
    expect(keys.filter((k) => k.includes('notifications') && !k.startsWith(`{${prefix}}:`))).toEqual([]);
  }, 20_000);

  it('runs the PIN lockout Lua script on the cluster', async () => {
    const users = app!.get(UsersService);
    const user = await users.findOrRegister(uniquePhone());
    await users.createPin(user.id, '4821');
    await expect(users.verifyPin(user.id, '1111')).rejects.toMatchObject({
      code: 'USER.PIN_INVALID',
      details: { attemptsLeft: 2 },
    });
    // The counter lives under Deni's own prefix on the cluster.
    expect(await redisCli(port, 'get', `${prefix}:pin-attempts:${user.id}`)).toBe('1');
    await expect(users.verifyPin(user.id, '4821')).resolves.toBeUndefined();
    expect(await redisCli(port, 'exists', `${prefix}:pin-attempts:${user.id}`)).toBe('0');
  });
  it('runs a USSD journey on the cluster: each step locks, reads and saves its session in one slot', async () => {
    const phone = new AtPhone(app!, uniquePhone());
    expect(await phone.dial()).toMatch(/^CON M-PESA LOANS/);
    expect(await phone.reply('1')).toMatch(/^CON REQUEST LOAN/);
    expect(await phone.reply('0722000001')).toMatch(/^CON Enter loan amount/);
    // A retry is answered from the stored session, as on a single Redis.
    expect(await phone.retry()).toMatch(/^CON Enter loan amount/);
    const keys = (await redisCli(port, '--scan', '--pattern', `${prefix}:ussd:*`)).split('\n').filter(Boolean);
    const session = keys.find((k) => k.startsWith(`${prefix}:ussd:session:`));
    expect(session).toBeDefined();
    // The lock was released with the last save, in the same script.
    expect(keys.filter((k) => k.includes(':ussd:lock:'))).toEqual([]);
    // The session, its lock, the phone's rate counter and resume offer share the number's slot:
    // one script counts, locks and reads them, another saves and unlocks.
    const tagged = session!.slice(`${prefix}:ussd:session:`.length);
    const slot = await redisCli(port, 'cluster', 'keyslot', session!);
    expect(tagged.startsWith(`{${phone.phoneNumber}}:`)).toBe(true);
    expect(await redisCli(port, 'cluster', 'keyslot', `${prefix}:ussd:lock:${tagged}`)).toBe(slot);
    expect(await redisCli(port, 'cluster', 'keyslot', `${prefix}:rate:ussd-phone:{${phone.phoneNumber}}`)).toBe(slot);
    // A dial reads the resume offer and the cached identity in the rate limit's script: their keys
    // share its slot, or the cluster would refuse the script (CROSSSLOT) and the dial end in an error.
    expect(await phone.dial()).toMatch(/^CON Continue your loan request to/);
    const shortcut = new AtPhone(app!, uniquePhone());
    expect(await shortcut.dial('1*0722000001')).toMatch(/^CON Enter loan amount/);
    expect(await shortcut.dial('1*0722000001')).toMatch(/^CON Enter loan amount/);
  });
});

describe('Redis Sentinel (REDIS_MODE=sentinel)', () => {
  const prefix = `deni-sentinel-${newRunId()}`;
  let masterPort: number;
  let app: NestFastifyApplication | undefined;

  beforeAll(async () => {
    const dir = tempDir('deni-redis-sentinel-');
    masterPort = await freePort();
    redisServer([
      '--port',
      String(masterPort),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
    await waitUntil(() => answersPing(masterPort), 10_000, 'master answers PING');

    const sentinelPort = await freePort();
    const conf = join(dir, 'sentinel.conf');
    // Sentinel rewrites its configuration file, so it lives in the temp dir.
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        'sentinel resolve-hostnames no',
        `sentinel monitor mymaster 127.0.0.1 ${masterPort} 1`,
        '',
      ].join('\n'),
    );
    redisServer([conf, '--sentinel']);
    await waitUntil(
      async () => {
        const answer = await redisCli(sentinelPort, 'sentinel', 'get-master-addr-by-name', 'mymaster');
        return answer.split('\n').join(':') === `127.0.0.1:${masterPort}`;
      },
      15_000,
      'sentinel knows the master',
    );

    ({ app } = await startTestApp({
      REDIS_MODE: 'sentinel',
      REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_KEY_PREFIX: prefix,
    }));
  }, 60_000);

  afterAll(async () => {
    await app?.close();
  });

  it('is ready', async () => {
    await expectReady(app!);
  });

  it('runs a BullMQ job end to end on the master the sentinel names', async () => {
    const row = await notificationRoundTrip(app!);
    expect(row.attempts).toBe(1);
    const keys = (await redisCli(masterPort, '--scan', '--pattern', `{${prefix}}:notifications:*`))
      .split('\n')
      .filter(Boolean);
    expect(keys.length).toBeGreaterThan(0);
  }, 20_000);
});
