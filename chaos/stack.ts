/**
 * The chaos run's stack, all on loopback: Deni as two processes (an API and a worker, NODE_ENV=
 * production) on a database and a Redis key prefix of the run's own, each reached through a TCP
 * proxy the run can cut; and the simulators process (Daraja and Africa's Talking) as the providers.
 *
 * Deni runs as the compose stack's demo does (DENI_DEMO=true: production's rules, with M-PESA and
 * SMS at `http://simulators:<port>`). Nothing on this machine answers to that name, so Deni's
 * outgoing HTTP goes through a forward proxy of the run (NODE_USE_ENV_PROXY, HTTP_PROXY) that
 * sends `simulators` to the simulators' port and refuses any other host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { DEMO_SIMULATORS_HOST } from '../src/config/demo.js';
import { AT_SIMULATOR_CREDENTIALS, MPESA_DEVELOPMENT_DEFAULTS } from '../src/config/simulator-credentials.js';
import { freePort, ProcessTracker, type Spawned } from '../test/support/processes.js';
import { freshSecrets } from '../test/support/production-env.js';
import { deleteRedisKeys } from '../test/support/run-lifecycle.js';
import { startSimulatorsProcess, type RunningSimulators } from '../test/support/simulators.js';
import { startTcpProxy, type TcpProxy } from '../test/support/tcp-proxy.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = join(ROOT, 'node_modules', '.bin', 'node');

/** Deni's paybill (MPESA_SHORTCODE in demo.env): paybill payments name it. */
export const SHORTCODE = '174379';

export type Role = 'api' | 'worker';

export interface StackOptions {
  /** A PostgreSQL URL of an existing database with the right to create databases (its path is ignored). */
  postgresUrl: string;
  redisUrl: string;
  /** The run's database (created, and dropped at the end). */
  database: string;
  /** The run's Redis key prefix (its keys are deleted at the end). */
  redisPrefix: string;
  /** A build of Deni (a directory with main.js, inside the project so that its packages resolve). */
  dist: string;
  /** Settings added to (or replacing) Deni's, e.g. a shorter MPESA_RECONCILE_AFTER_MS. */
  env: Record<string, string>;
  log: (message: string) => void;
}

/** One of Deni's processes: restarted in place after a kill, on the same port. */
interface DeniProcess {
  role: Role;
  port: number;
  child: ChildProcess | null;
  exited: Promise<void>;
  starts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Stack {
  readonly secrets = freshSecrets();
  /** Where the run keeps its files: the simulators' state, and each process's output. */
  readonly dir = mkdtempSync(join(tmpdir(), 'deni-chaos-'));
  postgresProxy!: TcpProxy;
  redisProxy!: TcpProxy;
  simulators!: RunningSimulators;
  private hostProxy: Server | undefined;
  private hostProxyPort = 0;
  private readonly tracker = new ProcessTracker();
  private readonly processes = new Map<Role, DeniProcess>();
  private readonly logs = new Map<Role, WriteStream>();
  private databaseCreated = false;

  constructor(private readonly options: StackOptions) {}

  get apiUrl(): string {
    return `http://127.0.0.1:${this.process('api').port}`;
  }

  get databaseUrl(): string {
    return withDatabase(this.options.postgresUrl, this.options.database);
  }

  get simulatorsDataDir(): string {
    return join(this.dir, 'simulators');
  }

  logFile(role: Role | 'simulators'): string {
    return join(this.dir, `${role}.log`);
  }

  async start(): Promise<void> {
    const { log } = this.options;
    const postgres = new URL(this.options.postgresUrl);
    const redis = new URL(this.options.redisUrl);
    this.postgresProxy = await startTcpProxy(postgres.hostname, Number(postgres.port || 5432));
    this.redisProxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
    await this.createDatabase();
    const [apiPort, workerPort] = [await freePort(), await freePort()];
    this.processes.set('api', { role: 'api', port: apiPort, child: null, exited: Promise.resolve(), starts: 0 });
    this.processes.set('worker', {
      role: 'worker',
      port: workerPort,
      child: null,
      exited: Promise.resolve(),
      starts: 0,
    });
    mkdirSync(this.simulatorsDataDir, { recursive: true });
    this.simulators = await startSimulatorsProcess(this.tracker, this.simulatorsDataDir, 0, {
      SIMULATOR_AT_DELIVERY_REPORT_URL: `${this.apiUrl}/api/sms/delivery-reports/africastalking?secret=${this.secrets.AT_DELIVERY_REPORT_SECRET}`,
    });
    await this.startHostProxy();
    log(
      `simulators on :${this.simulators.port}; Deni's API on :${apiPort}, worker on :${workerPort}; ` +
        `PostgreSQL through :${this.postgresProxy.port}, Redis through :${this.redisProxy.port}; files in ${this.dir}`,
    );
    this.spawn('api');
    this.spawn('worker');
    await Promise.all([this.waitReady('api', 120_000), this.waitReady('worker', 120_000)]);
  }

  /** Deni's environment: production's rules, the demo's providers, the run's database and Redis. */
  private env(role: Role, port: number): Record<string, string> {
    const simulators = `http://${DEMO_SIMULATORS_HOST}:${this.simulators.port}`;
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'production',
      DENI_DEMO: 'true',
      APP_ROLE: role,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      LOCAL_SERVICES: 'false',
      DATABASE_URL: this.postgresProxy.url(this.databaseUrl),
      REDIS_URL: this.redisProxy.url(this.options.redisUrl),
      REDIS_KEY_PREFIX: this.options.redisPrefix,
      ...this.secrets,
      MPESA_BASE_URL: simulators,
      SAFARICOM_CONSUMER_KEY: MPESA_DEVELOPMENT_DEFAULTS.consumerKey,
      SAFARICOM_CONSUMER_SECRET: MPESA_DEVELOPMENT_DEFAULTS.consumerSecret,
      MPESA_SHORTCODE: SHORTCODE,
      MPESA_PASSKEY: MPESA_DEVELOPMENT_DEFAULTS.passkey,
      MPESA_B2C_SHORTCODE: '600000',
      MPESA_INITIATOR_NAME: MPESA_DEVELOPMENT_DEFAULTS.initiatorName,
      MPESA_INITIATOR_PASSWORD: MPESA_DEVELOPMENT_DEFAULTS.initiatorPassword,
      // The simulators call back from this machine, to the API.
      MPESA_CALLBACK_BASE_URL: this.apiUrl,
      MPESA_CALLBACK_ALLOWED_IPS: '127.0.0.1/32',
      SMS_PROVIDER: 'africastalking',
      AT_BASE_URL: simulators,
      AT_USERNAME: AT_SIMULATOR_CREDENTIALS.username,
      AT_API_KEY: AT_SIMULATOR_CREDENTIALS.apiKey,
      AT_DELIVERY_REPORT_ALLOWED_IPS: '127.0.0.1/32',
      // The run's REST clients say which phone's address they stand for, as a load balancer would.
      TRUST_PROXY: '127.0.0.1/32',
      // `simulators` through the run's forward proxy (Node's own support for HTTP_PROXY).
      NODE_USE_ENV_PROXY: '1',
      HTTP_PROXY: `http://127.0.0.1:${this.hostProxyPort}`,
      NO_PROXY: '127.0.0.1,localhost',
      ...this.options.env,
    };
  }

  private process(role: Role): DeniProcess {
    const p = this.processes.get(role);
    if (!p) throw new Error(`no ${role} process`);
    return p;
  }

  private spawn(role: Role): void {
    const p = this.process(role);
    let out = this.logs.get(role);
    if (!out) {
      out = createWriteStream(this.logFile(role), { flags: 'a' });
      this.logs.set(role, out);
    }
    p.starts += 1;
    out.write(`--- start ${p.starts} at ${new Date().toISOString()}\n`);
    const child = spawn(NODE, [join(this.options.dist, 'main.js')], {
      cwd: ROOT,
      env: this.env(role, p.port),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    p.child = child;
    p.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        out.write(`--- exited (${code ?? signal}) at ${new Date().toISOString()}\n`);
        if (p.child === child) p.child = null;
        resolve();
      });
    });
  }

  running(role: Role): boolean {
    return this.process(role).child !== null;
  }

  /** Sends `signal`; resolves once the process has exited (SIGKILL after `graceMs` if it has not). */
  async stop(role: Role, signal: NodeJS.Signals, graceMs = 30_000): Promise<void> {
    const p = this.process(role);
    const child = p.child;
    if (!child) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await p.exited;
    clearTimeout(timer);
  }

  restart(role: Role): void {
    if (this.running(role)) throw new Error(`${role} is still running`);
    this.spawn(role);
  }

  /** Until the process answers /health/ready with 200 (PostgreSQL and Redis reachable). */
  async waitReady(role: Role, timeoutMs: number): Promise<void> {
    const p = this.process(role);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!p.child) throw new Error(`Deni's ${role} exited while starting; see ${this.logFile(role)}`);
      try {
        const res = await fetch(`http://127.0.0.1:${p.port}/health/ready`, { signal: AbortSignal.timeout(2_000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(250);
    }
    throw new Error(`Deni's ${role} was not ready within ${timeoutMs} ms; see ${this.logFile(role)}`);
  }

  /** How often each process was started (1 + restarts). */
  starts(): Record<Role, number> {
    return { api: this.process('api').starts, worker: this.process('worker').starts };
  }

  private async admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: withDatabase(this.options.postgresUrl, 'postgres') });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  private async createDatabase(): Promise<void> {
    const name = quoteIdent(this.options.database);
    await this.admin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.query(`CREATE DATABASE ${name}`);
    });
    this.databaseCreated = true;
  }

  /** A forward proxy for Deni's outgoing HTTP: `simulators` is the simulators process, nothing else goes out. */
  private async startHostProxy(): Promise<void> {
    const target = () => this.simulators.port;
    const server = createServer((req, res) => {
      const url = URL.parse(req.url ?? '');
      if (!url || url.hostname !== DEMO_SIMULATORS_HOST) {
        res.writeHead(403).end('only the simulators');
        return;
      }
      const upstream = httpRequest(
        {
          host: '127.0.0.1',
          port: target(),
          method: req.method,
          path: `${url.pathname}${url.search}`,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    server.on('connect', (req, socket, head) => {
      const [host] = (req.url ?? '').split(':');
      if (host !== DEMO_SIMULATORS_HOST) {
        socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
        return;
      }
      const upstream = connect(target(), '127.0.0.1', () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      const drop = () => {
        upstream.destroy();
        socket.destroy();
      };
      upstream.on('error', drop);
      socket.on('error', drop);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.hostProxy = server;
    this.hostProxyPort = (server.address() as { port: number }).port;
  }

  private cleaned: Promise<void> | undefined;

  /** Stops everything the run started and removes its database, its Redis keys and (unless kept) its files. */
  cleanup(keepFiles: boolean): Promise<void> {
    this.cleaned ??= (async () => {
      const { log } = this.options;
      this.postgresProxy?.restore();
      this.redisProxy?.restore();
      await Promise.all([...this.processes.keys()].map((role) => this.stop(role, 'SIGTERM', 10_000)));
      await this.tracker.killAll();
      this.hostProxy?.closeAllConnections();
      await new Promise<void>((resolve) => (this.hostProxy ? this.hostProxy.close(() => resolve()) : resolve()));
      await Promise.all([this.postgresProxy?.close(), this.redisProxy?.close()]);
      for (const out of this.logs.values()) out.end();
      if (this.databaseCreated)
        await this.admin((client) =>
          client.query(`DROP DATABASE IF EXISTS ${quoteIdent(this.options.database)} WITH (FORCE)`),
        )
          .then(() => log(`dropped database ${this.options.database}`))
          .catch((e: unknown) => log(`could not drop ${this.options.database}: ${String(e)}`));
      await deleteRedisKeys(this.options.redisUrl, [`${this.options.redisPrefix}:*`, `{${this.options.redisPrefix}}:*`])
        .then((n) => log(`deleted ${n} Redis keys under ${this.options.redisPrefix}`))
        .catch((e: unknown) => log(`could not delete Redis keys: ${String(e)}`));
      if (keepFiles) log(`kept the processes' output and the simulators' state in ${this.dir}`);
      else rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.cleaned;
  }

  /** The simulators process, for its output when something went wrong. */
  get simulatorsProcess(): Spawned {
    return this.simulators.process;
  }
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
