import { connect } from 'node:net';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { AT_SIMULATOR_CREDENTIALS } from '../src/config/simulator-credentials.js';
import { queuePrefix } from '../src/redis/redis-connection.factory.js';
import { JobName, QueueName } from '../src/queues/queue-names.js';
import { buildDeni, type Build } from './support/build.js';
import { freePort, ProcessTracker, waitUntil, type Spawned } from './support/processes.js';
import { startTestSimulators, type TestSimulators } from './support/simulators.js';
import { startTcpBalancer, type TcpBalancer } from './support/tcp-balancer.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { ownRedisPrefix, testConfig, uniquePhone } from './support/test-app.js';
import { currentRun } from './support/test-env.js';
import { checkAtBody, SCREENS } from './support/ussd-clients.js';

/**
 * A rolling deploy: two API processes (Deni built as for production, run as `node main.js`)
 * behind a load balancer of the test's (test/support/tcp-balancer.ts: round robin, following each
 * process's /health/ready), under USSD load with SMS jobs in flight, and SIGTERM to one of them.
 * Every request the balancer handed to either process is answered, the jobs running on the one
 * stopping finish, it exits by itself within SHUTDOWN_TIMEOUT_MS, and the other serves throughout.
 */

const SHUTDOWN_TIMEOUT_MS = 30_000;
const DRAIN_DELAY_MS = 2_000;
/**
 * Simulated subscribers, each sending one request after another with a short pause (a load the
 * two processes bear easily on a shared machine), and the most each sends whatever happens.
 */
const SUBSCRIBERS = 6;
const PAUSE_MS = 10;
const MAX_REQUESTS_EACH = 3_000;
/** One-time codes asked for while Africa's Talking is stalled: more than both workers take at once. */
const SMS_JOBS = 20;
/** How many sends each process's notifications worker runs at once (NotificationsProcessor). */
const SENDS_PER_WORKER = 8;

interface Answer {
  /** When it was sent: before SIGTERM to A, while A shut down, after A exited. */
  phase: 'before' | 'draining' | 'after';
  what: string;
  status?: number;
  body?: string;
  error?: string;
}

describe('a rolling deploy: SIGTERM to one of two API processes behind a load balancer, under load', () => {
  const processes = new ProcessTracker();
  const prefix = ownRedisPrefix();
  let simulators: TestSimulators | undefined;
  let smsLink: TcpProxy | undefined;
  let balancer: TcpBalancer | undefined;
  let queue: Queue | undefined;
  let db: DataSource | undefined;
  let build: Build | undefined;
  let redis: Redis | undefined;
  /** Ends the simulated subscribers (also when the test fails half-way). */
  let stop = false;

  beforeAll(async () => {
    build = await buildDeni();
  }, 180_000);

  afterAll(async () => {
    stop = true;
    smsLink?.restore();
    await processes.killAll();
    await balancer?.close();
    await smsLink?.close();
    await simulators?.close();
    await queue?.close();
    await redis?.quit();
    await db?.destroy();
    await build?.remove();
  });

  function startDeni(port: number, role: 'all' | 'api', smsUrl: string, mpesaUrl: string): Spawned {
    const run = currentRun();
    return processes.spawn(process.execPath, [build!.main], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'test',
        APP_ROLE: role,
        HOST: '127.0.0.1',
        PORT: String(port),
        LOCAL_SERVICES: 'false',
        DATABASE_URL: run.databaseUrl,
        DB_MIGRATIONS_RUN: 'false',
        REDIS_URL: run.redisUrl,
        REDIS_KEY_PREFIX: prefix,
        MPESA_BASE_URL: mpesaUrl,
        MPESA_CALLBACK_BASE_URL: 'http://127.0.0.1:9',
        SMS_PROVIDER: 'africastalking',
        AT_BASE_URL: smsUrl,
        AT_USERNAME: AT_SIMULATOR_CREDENTIALS.username,
        AT_API_KEY: AT_SIMULATOR_CREDENTIALS.apiKey,
        // A send waits out the stalled link rather than timing out (and being retried).
        AT_TIMEOUT_MS: '90000',
        // Every subscriber dials many times a minute here.
        USSD_RATE_LIMIT_PER_MINUTE: '1000',
        // As in testConfig: a busy test machine must not push a USSD step onto its offline answer.
        USSD_DB_DEADLINE_MS: '5000',
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        SHUTDOWN_DRAIN_DELAY_MS: String(DRAIN_DELAY_MS),
        LOG_LEVEL: 'info',
        // Its static files are not part of the build.
        SIMULATOR_ENABLED: 'false',
      },
    });
  }

  const ready = (port: number, deni: Spawned) =>
    waitUntil(
      async () => {
        if (deni.child.exitCode !== null) throw new Error(`exited (${deni.child.exitCode}): ${deni.output.stdout}`);
        return (await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200;
      },
      120_000,
      `Deni on port ${port} is ready`,
      250,
    );

  /** Whether something accepts TCP connections on the port. */
  const listening = (port: number) =>
    new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });

  it('answers every request it accepted, finishes its running jobs, exits within SHUTDOWN_TIMEOUT_MS, and the other keeps serving', async () => {
    simulators = await startTestSimulators();
    // Africa's Talking through a link the test can stall: SMS sends hang in flight until restored.
    smsLink = await startTcpProxy('127.0.0.1', Number(new URL(simulators.url).port));
    const link = smsLink;
    const [portA, portB] = [await freePort(), await freePort()];
    // A runs the workers too (APP_ROLE=all), B serves HTTP only: the jobs in flight on A are A's.
    const smsUrl = link.url(simulators.url);
    const a = startDeni(portA, 'all', smsUrl, simulators.url);
    const b = startDeni(portB, 'api', smsUrl, simulators.url);
    await Promise.all([ready(portA, a), ready(portB, b)]);
    balancer = await startTcpBalancer([portA, portB], { readinessPath: '/health/ready', intervalMs: 100 });
    const lb = balancer;
    await waitUntil(
      () => Promise.resolve(lb.inRotation(portA) && lb.inRotation(portB)),
      10_000,
      'both processes in rotation',
    );

    // ------------------------------------------------------------------ load through the balancer
    const answers: Answer[] = [];
    let phase: Answer['phase'] = 'before';
    const send = async (what: string, path: string, init: RequestInit) => {
      const at = phase;
      try {
        const res = await fetch(`${lb.url}${path}`, { ...init, signal: AbortSignal.timeout(60_000) });
        answers.push({ phase: at, what, status: res.status, body: await res.text() });
      } catch (e) {
        const err = e as Error & { cause?: Error };
        answers.push({ phase: at, what, error: `${err.message}: ${err.cause?.message ?? ''}` });
      }
    };
    const subscriber = async () => {
      const phoneNumber = uniquePhone();
      for (let i = 0; i < MAX_REQUESTS_EACH && !stop; i += 1) {
        await send('ussd', '/api/ussd/handler', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            sessionId: `ATUid_${phoneNumber}_${i}`,
            serviceCode: '*383#',
            phoneNumber: `+${phoneNumber}`,
            text: '',
          }),
        });
        await new Promise((r) => setTimeout(r, PAUSE_MS));
      }
    };
    const load = Array.from({ length: SUBSCRIBERS }, () => subscriber());
    const answered = (p: Answer['phase']) => answers.filter((x) => x.phase === p).length;
    await waitUntil(
      () => Promise.resolve(answered('before') >= 30 && lb.connections(portA) > 0 && lb.connections(portB) > 0),
      60_000,
      'both processes answering',
    );

    // ------------------------------------------------------------ SMS jobs running on A's worker
    link.stall();
    const smsPhones = Array.from({ length: SMS_JOBS }, () => uniquePhone());
    await Promise.all(
      smsPhones.map((phoneNumber) =>
        send('otp', '/api/auth/otp', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ phoneNumber }),
        }),
      ),
    );
    redis = new Redis(currentRun().redisUrl, { maxRetriesPerRequest: null });
    queue = new Queue(QueueName.Notifications, {
      connection: redis,
      prefix: queuePrefix(testConfig({ REDIS_KEY_PREFIX: prefix }).redis),
    });
    const notifications = queue;
    const sends = async (states: ('active' | 'waiting' | 'delayed' | 'prioritized')[]) =>
      (await notifications.getJobs(states)).filter((job) => job.name === String(JobName.SendNotification)).length;
    await waitUntil(async () => (await sends(['active'])) >= SENDS_PER_WORKER, 30_000, "A's worker running SMS sends");

    // ------------------------------------------------------------------------------ SIGTERM to A
    phase = 'draining';
    a.child.kill('SIGTERM');
    // The balancer takes A out of rotation once its readiness fails, while A still serves.
    await waitUntil(() => Promise.resolve(!lb.inRotation(portA)), 10_000, 'A out of rotation');
    // Once A stops accepting connections, the sends it is running may go on.
    await waitUntil(async () => !(await listening(portA)), 30_000, 'A stops listening');
    link.restore();
    const exit = await a.exited;
    phase = 'after';
    await waitUntil(() => Promise.resolve(answered('after') >= 30), 60_000, 'B answering after A exited');
    stop = true;
    await Promise.all(load);

    // A finished by itself, within its timeout (the timeout's way out is exit code 1); its error
    // lines, if any, say why not.
    const errors = a.output.stdout.split('\n').filter((line) => /"level":(50|60)/.test(line));
    expect({ exit, errors }).toEqual({ exit: { code: 0, signal: null }, errors: [] });
    expect(a.output.stdout).toContain('SIGTERM: done');
    expect(a.output.stdout).not.toContain('shutdown took longer');
    // Ready, then answering 503 (out of rotation, still accepting) before it stopped listening: the
    // balancer never had to find out by a refused connection.
    expect(lb.readiness(portA).slice(-2)).toEqual([503, 'unreachable']);
    expect(lb.readiness(portB)).not.toContain('unreachable');

    // Every request handed to either process was answered, properly: no reset, no 5xx, no error
    // screen; before, during and after the shutdown.
    const bad = answers.filter((x) => {
      if (x.error !== undefined || x.status === undefined || x.body === undefined) return true;
      if (x.what === 'otp') return x.status !== 202;
      if (x.status !== 200) return true;
      try {
        checkAtBody(x.body);
      } catch {
        return true;
      }
      return x.body.includes(SCREENS.generic);
    });
    expect(bad).toEqual([]);
    expect(answered('draining')).toBeGreaterThan(0);
    expect(answered('after')).toBeGreaterThanOrEqual(30);
    expect(answers.filter((x) => x.what === 'otp')).toHaveLength(SMS_JOBS);

    // Every SMS sent at most once: A's sends finished before it exited (a send abandoned by a dead
    // worker would stay active, then 'sending' for minutes), and what A did not take waits in the
    // queue for the next worker (B runs none: the replacement of A would take them).
    db = await new DataSource({ type: 'postgres', url: currentRun().databaseUrl }).initialize();
    const rows = await db.query<{ phone_number: string; status: string }[]>(
      `SELECT phone_number, status FROM notifications WHERE template = 'auth.otp' AND phone_number = ANY($1)`,
      [smsPhones],
    );
    expect(rows).toHaveLength(SMS_JOBS);
    // Nothing left running for a process that is gone.
    expect(await sends(['active'])).toBe(0);
    const sent = rows.filter((r) => r.status === 'sent');
    // At least what was running when A was told to stop; the others still queued, none lost.
    expect(sent.length).toBeGreaterThanOrEqual(SENDS_PER_WORKER);
    expect(sent.length + (await sends(['waiting', 'delayed', 'prioritized']))).toBe(SMS_JOBS);
    for (const phoneNumber of smsPhones) {
      const got = simulators.sms.delivered(phoneNumber).length;
      const row = rows.find((r) => r.phone_number === phoneNumber)!;
      expect({ phoneNumber, got }).toEqual({ phoneNumber, got: row.status === 'sent' ? 1 : 0 });
    }
    await processes.stop(b);
  }, 300_000);
});
