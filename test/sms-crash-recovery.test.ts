import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { TransactionService } from '../src/database/transaction.service.js';
import { NotificationsService } from '../src/notifications/notifications.service.js';
import { JobsService } from '../src/queues/jobs.service.js';
import { QueueName } from '../src/queues/queue-names.js';
import { WORKER_RECOVERY } from '../src/queues/worker-recovery.js';
import {
  startAfricasTalkingSmsSimulator,
  type AfricasTalkingSmsSimulator,
} from '../src/simulators/africastalking/africastalking-sms.simulator.js';
import { eventually } from './support/eventually.js';
import { freePort, ProcessTracker, waitUntil, type Spawned } from './support/processes.js';
import { ownRedisPrefix, startTestApp, uniquePhone } from './support/test-app.js';
import { currentRun } from './support/test-env.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The service's entry point with Nest's decorator metadata (tsx emits none). */
const WITH_METADATA = join(ROOT, 'test', 'support', 'decorator-metadata-loader.js');
const API_KEY = 'at-crash-key-8e2f4a6c1b9d3e57';
/** The dying worker's Africa's Talking timeout and lease margin: its rows are held 3 + 1 s after their request left. */
const CHILD_TIMEOUT_MS = 3_000;
const CHILD_LEASE_MS = CHILD_TIMEOUT_MS + 1_000;
const RELAY_INTERVAL_MS = 1_000;

/**
 * A worker killed (SIGKILL) after Africa's Talking took its messages and before it could write
 * the answers: the real worker (`src/main.ts`, APP_ROLE=worker) sends through a front that
 * passes each request on to the simulator, and once the simulator has answered both kills the
 * worker before handing the answers back. The worker never learns the answer, exactly as when it
 * dies between the provider's reply and the outbox write. Another instance then takes over.
 */
describe('a worker killed between the provider answer and the outbox write', () => {
  const processes = new ProcessTracker();
  let sim: AfricasTalkingSmsSimulator;
  let front: Server;
  let api: NestFastifyApplication | undefined;
  let survivor: NestFastifyApplication | undefined;
  let worker: Spawned;

  afterAll(async () => {
    await processes.killAll();
    await survivor?.close();
    await api?.close();
    front?.close();
    await sim?.close();
  });

  /** Starts the front: requests to AT go to the simulator; after `expected` answers the worker dies. */
  async function startFront(expected: number): Promise<string> {
    let answered = 0;
    let release!: () => void;
    const allAnswered = new Promise<void>((r) => (release = r));
    front = createServer((req, res) => {
      void (async () => {
        const body = await readBody(req);
        const headers: Record<string, string> = {};
        for (const name of ['apikey', 'accept', 'content-type']) {
          const value = req.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        const answer = await fetch(`${sim.url}${req.url}`, { method: req.method, headers, body });
        const text = await answer.text();
        answered += 1;
        if (answered === expected) {
          // Before any answer goes back: the worker cannot have read one.
          process.kill(-worker.child.pid!, 'SIGKILL');
          release();
        }
        await allAnswered;
        res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' });
        res.end(text);
      })().catch(() => res.destroy());
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const address = front.address();
    if (address === null || typeof address === 'string') throw new Error('front has no port');
    return `http://127.0.0.1:${address.port}`;
  }

  it('does not send the money confirmation again (unknown, for an operator) and sends the one-time code again, within the lease', async () => {
    sim = await startAfricasTalkingSmsSimulator({ username: 'sandbox', apiKey: API_KEY });
    const frontUrl = await startFront(2);
    const prefix = ownRedisPrefix(); // one set of queues for every instance here
    const at = { SMS_PROVIDER: 'africastalking', AT_USERNAME: 'sandbox', AT_API_KEY: API_KEY };

    // An API instance writes the messages; it runs no worker.
    ({ app: api } = await startTestApp({ APP_ROLE: 'api', REDIS_KEY_PREFIX: prefix, AT_BASE_URL: sim.url, ...at }));
    const db = api.get(DataSource);

    worker = processes.spawn(process.execPath, ['--import', WITH_METADATA, 'src/main.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        APP_ROLE: 'worker',
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        LOCAL_SERVICES: 'false',
        DATABASE_URL: currentRun().databaseUrl,
        REDIS_URL: currentRun().redisUrl,
        REDIS_KEY_PREFIX: prefix,
        MPESA_BASE_URL: 'http://127.0.0.1:9',
        MPESA_CALLBACK_BASE_URL: 'http://127.0.0.1:9',
        AT_BASE_URL: frontUrl,
        AT_TIMEOUT_MS: String(CHILD_TIMEOUT_MS),
        NOTIFICATIONS_LEASE_MARGIN_MS: String(CHILD_LEASE_MS - CHILD_TIMEOUT_MS),
        ...at,
      },
    });
    await waitUntil(
      () => {
        if (worker.child.exitCode !== null)
          throw new Error(`worker exited: ${worker.output.stdout}${worker.output.stderr}`);
        return Promise.resolve(worker.output.stdout.includes('listening on'));
      },
      60_000,
      'the worker logs that it is listening',
    );

    const money = uniquePhone();
    const otp = uniquePhone();
    const notifications = api.get(NotificationsService);
    const [moneyId, otpId] = await api.get(TransactionService).run(async (tx) => [
      await notifications.notify(tx, {
        phoneNumber: money,
        language: 'en',
        template: 'deposit.received',
        params: { amount: 500, deducted: 0, balance: 500 },
      }),
      await notifications.notify(tx, {
        phoneNumber: otp,
        language: 'en',
        template: 'auth.otp',
        params: { code: '482913', minutes: 5 },
      }),
    ]);

    const exit = await worker.exited;
    expect(exit.signal).toBe('SIGKILL');
    // Africa's Talking took both; the outbox knows only that their requests left.
    expect(sim.delivered(money)).toHaveLength(1);
    expect(sim.delivered(otp)).toHaveLength(1);
    const held = await rows(db, [moneyId, otpId]);
    for (const row of held) {
      expect(row).toMatchObject({ status: 'sending', attempts: 1, provider_message_id: null });
      expect(row.request_sent_at).not.toBeNull();
    }
    const leaseEnds = new Map(held.map((r) => [r.id, r.lease_until!]));
    // Their jobs are still `active`, under the dead worker's locks.
    const queue = api.get(JobsService).queue(QueueName.Notifications);
    expect((await queue.getActive()).map((j) => j.id)).toEqual(expect.arrayContaining([moneyId, otpId]));

    // Another worker instance, with the relay at its usual short interval.
    ({ app: survivor } = await startTestApp({
      APP_ROLE: 'worker',
      REDIS_KEY_PREFIX: prefix,
      AT_BASE_URL: sim.url,
      NOTIFICATIONS_RELAY_INTERVAL_MS: String(RELAY_INTERVAL_MS),
      ...at,
    }));

    // Taken up once the dead worker's lease is over, at the next relay: seconds, not minutes.
    const settled = await eventually(
      () => rows(db, [moneyId, otpId]),
      (r) => r[0].status === 'unknown' && r[1].status === 'sent',
      CHILD_LEASE_MS + RELAY_INTERVAL_MS + 15_000,
    );
    // Not before the lease ended: the dead worker could still have been sending until then.
    const resent = settled[1];
    expect(resent.attempts).toBe(2);
    expect(resent.request_sent_at!.getTime()).toBeGreaterThanOrEqual(leaseEnds.get(otpId)!.getTime());

    // The dead worker's jobs come back from `active` (BullMQ's stall check) and find nothing to send.
    // (The relay's next run waits as a delayed job; sends of this test are never delayed.)
    const counts = await eventually(
      () => queue.getJobCounts('active', 'waiting', 'failed'),
      (c) => c.active + c.waiting === 0,
      WORKER_RECOVERY.lockDuration + 2 * WORKER_RECOVERY.stalledInterval + 10_000,
    );
    expect(counts.failed).toBe(0);

    expect(sim.delivered(money)).toHaveLength(1); // never twice "Ksh 500 received"
    expect(sim.delivered(otp)).toHaveLength(2); // the code is sent again
    expect(settled[0].last_error).toMatch(/^In doubt: its worker stopped after the request left/);

    // The operator sees it, by status and on the number's outbox.
    const unknown = await api.inject({ method: 'GET', url: '/api/admin/notifications?status=unknown' });
    expect(unknown.json<{ id: string; template: string }[]>()).toEqual([
      expect.objectContaining({ id: moneyId, template: 'deposit.received', status: 'unknown' }),
    ]);
  }, 120_000);
});

interface Row {
  id: string;
  status: string;
  attempts: number;
  provider_message_id: string | null;
  last_error: string | null;
  lease_until: Date | null;
  request_sent_at: Date | null;
}

/** The rows, in the order of `ids`. */
async function rows(db: DataSource, ids: string[]): Promise<Row[]> {
  const found = await db.query<Row[]>(
    `SELECT id, status, attempts, provider_message_id, last_error, lease_until, request_sent_at FROM notifications WHERE id = ANY($1)`,
    [ids],
  );
  return ids.map((id) => found.find((r) => r.id === id)!);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}
