/**
 * `npm run bench`: load test of the USSD channel (Africa's Talking dialect) against real PostgreSQL
 * and Redis, compared with a "ceiling" server (bare Fastify + one Redis GET and SET per request).
 *
 * It builds Deni (skip with --no-build), starts it with NODE_ENV=production and a generated set of
 * secrets on its own database (deni_bench) and Redis key prefix, registers subscribers with PINs,
 * then drives 100 connections of virtual subscribers through whole journeys, step by step, with
 * autocannon. Each scenario: a short warm-up, then a bounded measured run. It prints a table,
 * writes bench/results.json and always cleans up (database, Redis keys, processes), also on Ctrl-C.
 *
 * Options: --duration=10 --warmup=2 --connections=100 --only=ceiling,nav,loan,balance,approve
 *          --no-build --profile (starts the service with --cpu-prof into bench/profiles/)
 *          --node-flags="--max-semi-space-size=16" (flags for the service's node)
 *          --dist=<dir> (run another build of the service, e.g. a copy of dist/ from before a change)
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import pg from 'pg';
import { hashPin } from '../src/users/pin.js';
import { productionEnv } from '../test/support/production-env.js';
import { deleteRedisKeys } from '../test/support/run-lifecycle.js';

// ------------------------------------------------------------------ options

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, ...v] = a.replace(/^--/, '').split('=');
    return [k, v.length ? v.join('=') : 'true'] as const;
  }),
);
const DURATION = Number(args.get('duration') ?? 10);
const WARMUP = Number(args.get('warmup') ?? 2);
const CONNECTIONS = Number(args.get('connections') ?? 100);
const ONLY = args.get('only')?.split(',');
const BUILD = !args.has('no-build');
const PROFILE = args.has('profile');
/** Another build to run instead of dist/ (for before/after comparisons); inside the project, for node_modules. */
const DIST = args.get('dist') ?? 'dist';
/** Extra flags for the service's node, e.g. --node-flags=--max-semi-space-size=16 (space-separated). */
const NODE_FLAGS = args.get('node-flags')?.split(' ').filter(Boolean) ?? [];

const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
const SERVICE_PORT = Number(process.env.BENCH_PORT ?? 5710);
const CEILING_PORT = SERVICE_PORT + 1;
const DB_NAME = 'deni_bench';
const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DATABASE_URL = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${DB_NAME}`);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `deni-bench-${process.pid}`;
const NODE = join(root, 'node_modules/.bin/node');

const BORROWERS = 2000;
const LENDERS = 400;
const PIN = '4821';
const REPAYMENT = 50;

const SECRETS = {
  ADMIN_API_KEY: randomBytes(16).toString('hex'),
  JWT_SECRET: randomBytes(32).toString('hex'),
  PIN_PEPPER: randomBytes(32).toString('hex'),
  USSD_WEBHOOK_SECRET: randomBytes(16).toString('hex'),
  MPESA_CALLBACK_SECRET: randomBytes(16).toString('hex'),
};

const borrower = (i: number) => `2547100${String(i % BORROWERS).padStart(5, '0')}`;
const lender = (i: number) => `2547200${String(i % LENDERS).padStart(5, '0')}`;
const local = (msisdn: string) => `0${msisdn.slice(3)}`;

// ------------------------------------------------------------------ processes and cleanup

const children = new Set<ChildProcess>();
let tempDir: string | undefined;
let databaseCreated = false;

function log(message: string) {
  process.stderr.write(`[bench] ${message}\n`);
}

function start(name: string, command: string, argv: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(command, argv, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    tail.push(chunk.toString());
    if (tail.length > 50) tail.shift();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (!stopping.has(child)) log(`${name} exited (${code ?? signal}); last output:\n${tail.join('').slice(-3000)}`);
  });
  return child;
}

const stopping = new Set<ChildProcess>();
async function stop(child: ChildProcess | undefined, waitMs = 15_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  stopping.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), waitMs);
  await exited;
  clearTimeout(timer);
}

async function waitFor(url: string, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited before ${url} answered`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

async function dropDatabase(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

let cleaned: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaned ??= (async () => {
    for (const child of [...children]) await stop(child).catch(() => undefined);
    if (databaseCreated)
      await dropDatabase()
        .then(() => log(`dropped database ${DB_NAME}`))
        .catch((e) => log(`could not drop ${DB_NAME}: ${e}`));
    await deleteRedisKeys(REDIS_URL, [`${PREFIX}:*`, `{${PREFIX}}:*`])
      .then((n) => log(`deleted ${n} Redis keys under ${PREFIX}`))
      .catch((e) => log(`could not delete Redis keys: ${e}`));
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  })();
  return cleaned;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------ memory

function readStatus(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) a process has used so far, in ms. */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in ticks of 1/100 s
  } catch {
    return 0;
  }
}

/** Transactions committed or rolled back in the bench database so far (each autocommit query is one). */
async function dbTransactions(): Promise<number> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    const res = await client.query<{ n: string }>(
      `SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1`,
      [DB_NAME],
    );
    return Number(res.rows[0]?.n ?? 0);
  } catch {
    return 0;
  } finally {
    await client.end();
  }
}

/** Peak RSS of a process during `work`: VmHWM reset before (clear_refs 5), and VmRSS sampled. */
async function peakRss<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peakMb: number }> {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // not allowed: VmHWM is then the peak since start
  }
  let sampled = 0;
  const timer = setInterval(() => (sampled = Math.max(sampled, readStatus(pid, 'VmRSS'))), 200);
  try {
    const result = await work();
    return { result, peakMb: Math.max(sampled, readStatus(pid, 'VmHWM')) };
  } finally {
    clearInterval(timer);
  }
}

// ------------------------------------------------------------------ journeys

interface Step {
  /** The request, from the journey's context. */
  request: (ctx: Ctx) => { method: 'POST'; path: string; headers: Record<string, string>; body: string };
  /** What the reply must contain (wrong screen otherwise). */
  expect: string;
  /** Called with the reply body when it was right. */
  after?: (ctx: Ctx, body: string) => void;
}

interface Ctx {
  n: number;
  phone: string;
  sessionId: string;
  inputs: string[];
  kind?: 'approve' | 'deposit';
  lenderIndex?: number;
  borrowerPhone?: string;
}

interface Journey {
  name: string;
  steps: number;
  /** Chooses the subscriber (and anything else) for journey number n. */
  begin: (n: number) => Ctx;
  step: (i: number, ctx: Ctx) => Step;
  end?: (ctx: Ctx, ok: boolean) => void;
  /** After a run: whatever journeys were cut off by the end of the run give back what they held. */
  reset?: () => void;
}

const AT_HEADERS = (secret: string | undefined) => ({
  'content-type': 'application/x-www-form-urlencoded',
  ...(secret ? { 'x-ussd-secret': secret } : {}),
});

function ussdStep(
  secret: string | undefined,
  inputs: (ctx: Ctx) => string[],
  expect: string,
  after?: Step['after'],
): Step {
  return {
    expect,
    after,
    request: (ctx) => ({
      method: 'POST',
      path: '/api/ussd/handler',
      headers: AT_HEADERS(secret),
      body: new URLSearchParams({
        sessionId: ctx.sessionId,
        serviceCode: '*383#',
        phoneNumber: `+${ctx.phone}`,
        networkCode: '63902',
        text: inputs(ctx).join('*'),
      }).toString(),
    }),
  };
}

/** Journey-wide counter: every journey gets its own session id and values. */
let journeyCounter = 0;
const sessionId = (n: number) => `ATUid_${RUN_ID}_${n}`;

/** Loans created in the loan scenario, per lender index (for the approval scenario). */
const pendingByLender = new Array<number>(LENDERS).fill(0);
const freeLenders: number[] = [];
const activeBorrowers: string[] = [];

function loanInputs(n: number): string[] {
  // Different amounts for the same borrower and lender: never a "duplicate request".
  const amount = 100 + (Math.floor(n / BORROWERS) % 5000);
  return ['1', local(lender(n)), String(amount), String(REPAYMENT)];
}

function navigation(secret: string | undefined, expectScreens: boolean): Journey {
  const e = (s: string) => (expectScreens ? s : 'CON');
  const path = (k: number) => (ctx: Ctx) => ctx.inputs.slice(0, k);
  return {
    name: 'navigation',
    steps: 6,
    begin: (n) => ({ n, phone: borrower(n), sessionId: sessionId(n), inputs: [...loanInputs(n), '0'] }),
    step: (i, _ctx) =>
      [
        ussdStep(secret, path(0), e('CON M-PESA LOANS')),
        ussdStep(secret, path(1), e('CON REQUEST LOAN')),
        ussdStep(secret, path(2), e('CON Enter loan amount')),
        ussdStep(secret, path(3), e('CON Enter repayment')),
        ussdStep(secret, path(4), e('CON CONFIRM LOAN')),
        // 0. Cancel: back to the main menu, so the next dial of this phone is not offered "resume".
        ussdStep(secret, path(5), e('CON M-PESA LOANS')),
      ][i],
  };
}

function loanRequest(secret: string): Journey {
  const path = (k: number) => (ctx: Ctx) => ctx.inputs.slice(0, k);
  return {
    name: 'loan request',
    steps: 7,
    begin: (n) => ({ n, phone: borrower(n), sessionId: sessionId(n), inputs: [...loanInputs(n), '1', PIN] }),
    step: (i) =>
      [
        ussdStep(secret, path(0), 'CON M-PESA LOANS'),
        ussdStep(secret, path(1), 'CON REQUEST LOAN'),
        ussdStep(secret, path(2), 'CON Enter loan amount'),
        ussdStep(secret, path(3), 'CON Enter repayment'),
        ussdStep(secret, path(4), 'CON CONFIRM LOAN'),
        ussdStep(secret, path(5), 'CON Enter your 4-digit PIN'),
        ussdStep(secret, path(6), 'SUCCESS\nLoan request sent'),
      ][i],
    end: (ctx, ok) => {
      if (ok) pendingByLender[ctx.n % LENDERS] += 1;
    },
  };
}

function balance(secret: string): Journey {
  return {
    name: 'balance',
    steps: 2,
    begin: (n) => ({ n, phone: borrower(n), sessionId: sessionId(n), inputs: ['4'] }),
    step: (i) =>
      [ussdStep(secret, () => [], 'CON M-PESA LOANS'), ussdStep(secret, () => ['4'], 'BALANCE\nWallet: Ksh')][i],
  };
}

/**
 * Half the journeys: a lender approves the first request waiting for them (dial → 3 → 1 → 1 →
 * PIN); the other half: five operator deposits (POST /api/admin/deposits) for borrowers with
 * active loans, which the service allocates to their lenders. A lender is used by one
 * connection at a time, so two approvals never race for the same request.
 */
function approvalsAndDeposits(secret: string, adminKey: string): Journey {
  const path = ['3', '1', '1', PIN];
  const busy = new Set<number>();
  let depositCounter = 0;
  let mix = 0;
  const approve = (i: number) =>
    ussdStep(
      secret,
      (ctx) => ctx.inputs.slice(0, i),
      ['CON M-PESA LOANS', 'CON APPROVE LOAN', 'asks Ksh', 'CON Enter your 4-digit PIN', 'APPROVED\nKsh'][i],
      i === 2
        ? (ctx, body) => {
            const m = body.match(/CON (0\d{9}) asks/);
            if (m) ctx.borrowerPhone = `254${m[1].slice(1)}`;
          }
        : undefined,
    );
  const deposit: Step = {
    expect: '"allocations"',
    request: (ctx) => {
      const phone = activeBorrowers.length
        ? activeBorrowers[Math.floor(Math.random() * activeBorrowers.length)]
        : borrower(ctx.n);
      const reference = `BENCH${RUN_ID.replace(/[^A-Za-z0-9]/g, '')}D${depositCounter++}`;
      return {
        method: 'POST',
        path: '/api/admin/deposits',
        headers: { 'content-type': 'application/json', 'x-api-key': adminKey },
        body: JSON.stringify({ phoneNumber: phone, amount: 200, reference }),
      };
    },
  };
  return {
    name: 'approve + deposit',
    steps: 5,
    begin: (n) => {
      const ctx: Ctx = { n, phone: '', sessionId: sessionId(n), inputs: path, kind: 'deposit' };
      if (mix++ % 2 === 0) {
        const at = freeLenders.findIndex((l) => pendingByLender[l] > 0);
        if (at >= 0) {
          ctx.kind = 'approve';
          ctx.lenderIndex = freeLenders.splice(at, 1)[0]!;
          busy.add(ctx.lenderIndex);
          ctx.phone = lender(ctx.lenderIndex);
        }
      }
      return ctx;
    },
    step: (i, ctx) => (ctx.kind === 'approve' ? approve(i) : deposit),
    end: (ctx, ok) => {
      if (ctx.kind !== 'approve' || ctx.lenderIndex === undefined) return;
      if (ok) {
        pendingByLender[ctx.lenderIndex] -= 1;
        if (ctx.borrowerPhone) activeBorrowers.push(ctx.borrowerPhone);
      }
      busy.delete(ctx.lenderIndex);
      freeLenders.push(ctx.lenderIndex);
      ctx.lenderIndex = undefined;
    },
    reset: () => {
      freeLenders.push(...busy);
      busy.clear();
    },
  };
}

// ------------------------------------------------------------------ driver

interface Measured {
  steps: number;
  journeys: number;
  seconds: number;
  latencies: number[];
  errors: { non2xx: number; wrongScreen: number; transport: number; timeouts: number };
  samples: string[];
  /** Journeys completed, by kind (approval journeys and single deposits in the mixed scenario). */
  byKind: Record<string, number>;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Runs `journey` over `connections` connections for `seconds`: each connection, one virtual subscriber after another. */
function drive(port: number, journey: Journey, seconds: number): Promise<Measured> {
  const m: Measured = {
    steps: 0,
    journeys: 0,
    seconds,
    latencies: [],
    errors: { non2xx: 0, wrongScreen: 0, transport: 0, timeouts: 0 },
    samples: [],
    byKind: {},
  };
  const requests = Array.from({ length: journey.steps }, (_, i) => ({
    setupRequest: (req: Record<string, unknown>, context: Record<string, unknown>) => {
      if (i === 0 || !context.ctx) {
        const prev = context.ctx as Ctx | undefined;
        if (prev && prev.lenderIndex !== undefined) journey.end?.(prev, false);
        context.ctx = journey.begin(journeyCounter++);
        context.ok = true;
      }
      return { ...req, ...journey.step(i, context.ctx as Ctx).request(context.ctx as Ctx) };
    },
    onResponse: (status: number, body: string, context: Record<string, unknown>) => {
      const ctx = context.ctx as Ctx;
      const step = journey.step(i, ctx);
      if (status < 200 || status > 299) {
        context.ok = false;
        if (m.samples.length < 5) m.samples.push(`step ${i}: HTTP ${status} ${String(body).slice(0, 160)}`);
      } else if (!String(body).includes(step.expect)) {
        context.ok = false;
        m.errors.wrongScreen += 1;
        if (m.samples.length < 5)
          m.samples.push(
            `step ${i}: expected ${JSON.stringify(step.expect)}, got ${JSON.stringify(String(body).slice(0, 160))}`,
          );
      } else {
        step.after?.(ctx, String(body));
      }
      if (i === journey.steps - 1) {
        if (context.ok) {
          const done = ctx.kind === 'deposit' ? journey.steps : 1;
          m.journeys += done;
          const kind = ctx.kind ?? 'journey';
          m.byKind[kind] = (m.byKind[kind] ?? 0) + done;
        }
        journey.end?.(ctx, Boolean(context.ok));
        context.ctx = undefined;
      }
    },
  }));
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections: CONNECTIONS,
        duration: seconds,
        timeout: 10,
        requests: requests as unknown as autocannon.Request[],
      },
      (err, result) => {
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        m.errors.non2xx = result.non2xx;
        m.errors.transport = result.errors - result.timeouts;
        m.errors.timeouts = result.timeouts;
        journey.reset?.();
        resolve(m);
      },
    );
    instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
      m.steps += 1;
      m.latencies.push(responseTime);
    });
  });
}

interface Row {
  scenario: string;
  stepsPerJourney: number;
  stepsPerSecond: number;
  journeysPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  errorDetail: Measured['errors'];
  peakRssMb: number;
  /** CPU time the server process used per step (user + system): less sensitive to a busy machine than steps/s. */
  cpuMsPerStep: number;
  /** PostgreSQL transactions per step (approximate: statistics are flushed about once a second). */
  dbTransactionsPerStep: number | null;
  ratioToCeiling: number | null;
  /** Per second, by kind of journey (the mixed scenario: approvals and deposits). */
  perKindPerSecond: Record<string, number>;
  samples: string[];
}

/**
 * Journeys cut off by the end of a run leave "resume where you left off" offers for their phones:
 * withdrawn between runs, so that every scenario starts from the main menu.
 */
async function forgetCutOffJourneys(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1_000)); // steps still being answered when the run stopped
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:ussd:resume:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function scenario(
  label: string,
  port: number,
  pid: number,
  journey: Journey,
  ceiling: number | null,
): Promise<Row> {
  log(`${label}: warm-up ${WARMUP}s`);
  if (WARMUP > 0) await drive(port, journey, WARMUP);
  await forgetCutOffJourneys();
  log(`${label}: measuring ${DURATION}s at ${CONNECTIONS} connections`);
  const db = label === 'ceiling' ? null : await dbTransactions();
  const cpuBefore = cpuMs(pid);
  const { result: m, peakMb } = await peakRss(pid, () => drive(port, journey, DURATION));
  const cpu = cpuMs(pid) - cpuBefore;
  await forgetCutOffJourneys();
  await new Promise((r) => setTimeout(r, db === null ? 0 : 1_100));
  const dbAfter = db === null ? null : await dbTransactions();
  const sorted = Float64Array.from(m.latencies).sort();
  const arr = Array.from(sorted);
  const stepsPerSecond = m.steps / m.seconds;
  const errors = m.errors.non2xx + m.errors.wrongScreen + m.errors.transport + m.errors.timeouts;
  if (m.samples.length) log(`${label}: ${errors} errors, e.g.\n  ${m.samples.join('\n  ')}`);
  return {
    scenario: label,
    stepsPerJourney: journey.steps,
    stepsPerSecond: Math.round(stepsPerSecond),
    journeysPerSecond: Math.round((m.journeys / m.seconds) * 10) / 10,
    p50: round(percentile(arr, 50)),
    p95: round(percentile(arr, 95)),
    p99: round(percentile(arr, 99)),
    errors,
    errorDetail: m.errors,
    peakRssMb: Math.round(peakMb),
    cpuMsPerStep: m.steps ? Math.round((cpu / m.steps) * 100) / 100 : 0,
    dbTransactionsPerStep:
      db === null || dbAfter === null || !m.steps ? null : Math.round(((dbAfter - db) / m.steps) * 100) / 100,
    ratioToCeiling: ceiling ? Math.round((stepsPerSecond / ceiling) * 100) / 100 : null,
    perKindPerSecond: Object.fromEntries(Object.entries(m.byKind).map(([k, v]) => [k, round(v / m.seconds)])),
    samples: m.samples,
  };
}

const round = (x: number) => Math.round(x * 10) / 10;

// ------------------------------------------------------------------ setup of the service

function serviceEnv(): Record<string, string> {
  // Everything NODE_ENV=production requires (kept in step with the config schema by the tests'
  // own set, which also makes a self-signed stand-in for Safaricom's certificate), with freshly
  // generated secrets on top.
  const production = productionEnv();
  tempDir = dirname(production.MPESA_CERT_PATH);
  return {
    ...production,
    ...SECRETS,
    NODE_ENV: 'production',
    APP_ROLE: 'all',
    PORT: String(SERVICE_PORT),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    LOCAL_SERVICES: 'false',
    DATABASE_URL,
    REDIS_URL,
    REDIS_KEY_PREFIX: PREFIX,
    // The limit is per phone number; the bench's subscribers step far faster than people do.
    USSD_RATE_LIMIT_PER_MINUTE: '1000',
    LOAN_MAX_PENDING: '100',
  };
}

async function ussd(phone: string, session: string, text: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${SERVICE_PORT}/api/ussd/handler`, {
    method: 'POST',
    headers: AT_HEADERS(SECRETS.USSD_WEBHOOK_SECRET),
    body: new URLSearchParams({
      sessionId: session,
      serviceCode: '*383#',
      phoneNumber: `+${phone}`,
      networkCode: '63902',
      text,
    }).toString(),
  });
  return res.text();
}

async function inBatches<T>(items: T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

/** Registers every subscriber (a first dial), gives them a PIN, and funds the lenders. */
async function seed(): Promise<void> {
  const phones = [
    ...Array.from({ length: BORROWERS }, (_, i) => borrower(i)),
    ...Array.from({ length: LENDERS }, (_, i) => lender(i)),
  ];
  await inBatches(phones, 50, async (phone) => {
    const reply = await ussd(phone, `setup-${RUN_ID}-${phone}`, '');
    if (!reply.startsWith('CON M-PESA LOANS')) throw new Error(`setup dial for ${phone}: ${reply}`);
  });
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const hashes = phones.map(() => hashPin(PIN, SECRETS.PIN_PEPPER));
    const res = await client.query(
      `UPDATE users u SET pin_hash = x.hash, pin_set_at = now() FROM unnest($1::text[], $2::text[]) AS x(phone, hash) WHERE u.phone_number = x.phone`,
      [phones, hashes],
    );
    if (res.rowCount !== phones.length) throw new Error(`PINs set for ${res.rowCount} of ${phones.length} users`);
  } finally {
    await client.end();
  }
  await inBatches(
    Array.from({ length: LENDERS }, (_, i) => lender(i)),
    20,
    async (phone) => {
      const res = await fetch(`http://127.0.0.1:${SERVICE_PORT}/api/admin/deposits`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': SECRETS.ADMIN_API_KEY },
        body: JSON.stringify({ phoneNumber: phone, amount: 5_000_000, reference: `BENCHFUND${phone}` }),
      });
      if (!res.ok) throw new Error(`funding ${phone}: ${res.status} ${await res.text()}`);
    },
  );
  freeLenders.push(...Array.from({ length: LENDERS }, (_, i) => i));
  log(`seeded ${BORROWERS} borrowers and ${LENDERS} funded lenders, all with PIN ${PIN}`);
}

/** The service's own memory figures at the end (from /metrics), to tell the V8 heap from the rest. */
async function serviceMemory(): Promise<Record<string, number>> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${SERVICE_PORT}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const name of [
      'process_resident_memory_bytes',
      'nodejs_heap_size_total_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_external_memory_bytes',
    ]) {
      const m = text.match(new RegExp(`^deni_${name} (\\S+)`, 'm'));
      if (m) out[name.replace(/_bytes$/, 'Mb')] = Math.round(Number(m[1]) / 2 ** 20);
    }
    return out;
  } catch {
    return {};
  }
}

// ------------------------------------------------------------------ report

interface Target {
  name: string;
  pass: boolean;
  detail: string;
}

function targets(rows: Row[]): Target[] {
  const by = (s: string) => rows.find((r) => r.scenario === s);
  const out: Target[] = [];
  const nav = by('navigation');
  if (nav) {
    out.push({
      name: 'navigation ≥ 60% of ceiling steps/s',
      pass: (nav.ratioToCeiling ?? 0) >= 0.6,
      detail: `${Math.round((nav.ratioToCeiling ?? 0) * 100)}%`,
    });
    out.push({ name: 'navigation p99 ≤ 25 ms', pass: nav.p99 <= 25, detail: `${nav.p99} ms` });
  }
  const loan = by('loan request');
  if (loan)
    out.push({
      name: 'loan requests ≥ 600 journeys/s',
      pass: loan.journeysPerSecond >= 600,
      detail: `${loan.journeysPerSecond}/s`,
    });
  const service = rows.filter((r) => r.scenario !== 'ceiling');
  const errors = service.reduce((s, r) => s + r.errors, 0);
  out.push({ name: 'no errors', pass: errors === 0, detail: String(errors) });
  const rss = Math.max(0, ...service.map((r) => r.peakRssMb));
  out.push({ name: 'peak RSS ≤ 300 MB', pass: rss <= 300, detail: `${rss} MB` });
  return out;
}

function table(rows: Row[]): string {
  const head = [
    'scenario',
    'steps/journey',
    'steps/s',
    'journeys/s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'errors',
    'peak RSS MB',
    'CPU ms/step',
    'DB tx/step',
    'vs ceiling',
  ];
  const body = rows.map((r) => [
    r.scenario,
    String(r.stepsPerJourney),
    String(r.stepsPerSecond),
    String(r.journeysPerSecond),
    String(r.p50),
    String(r.p95),
    String(r.p99),
    String(r.errors),
    String(r.peakRssMb),
    String(r.cpuMsPerStep),
    r.dbTransactionsPerStep === null ? '—' : String(r.dbTransactionsPerStep),
    r.ratioToCeiling === null ? '—' : `${Math.round(r.ratioToCeiling * 100)}%`,
  ]);
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => ' --- ').join('|')}|`,
    ...body.map((b) => `| ${b.join(' | ')} |`),
  ].join('\n');
}

// ------------------------------------------------------------------ main

const wanted = (name: string) => !ONLY || ONLY.includes(name);

async function main(): Promise<void> {
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: execFileSync(NODE, ['-v']).toString().trim(),
    loadBefore: loadavg().map(round),
  };
  if (BUILD) {
    log('building (npm run build)');
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  if (!existsSync(join(root, DIST, 'main.js'))) throw new Error(`${DIST}/main.js is missing: run without --no-build`);

  const rows: Row[] = [];
  let ceilingStepsPerSecond: number | null = null;

  if (wanted('ceiling')) {
    const ceiling = start('ceiling', NODE, ['--import', 'tsx', 'bench/ceiling-server.ts'], {
      PORT: String(CEILING_PORT),
      REDIS_URL,
      REDIS_KEY_PREFIX: PREFIX,
    });
    await new Promise<void>((resolve, reject) => {
      ceiling.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      ceiling.once('exit', () => reject(new Error('the ceiling server did not start')));
    });
    const row = await scenario('ceiling', CEILING_PORT, ceiling.pid!, navigation(undefined, false), null);
    ceilingStepsPerSecond = row.stepsPerSecond;
    rows.push(row);
    await stop(ceiling);
  }

  await dropDatabase(); // a leftover of an interrupted run
  databaseCreated = true;
  const profileDir = join(root, 'bench/profiles');
  if (PROFILE) mkdirSync(profileDir, { recursive: true });
  log(
    `starting the service (NODE_ENV=production, APP_ROLE=all) on :${SERVICE_PORT}, database ${DB_NAME}, Redis prefix ${PREFIX}`,
  );
  const service = start(
    'service',
    NODE,
    [...NODE_FLAGS, ...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), `${DIST}/main.js`],
    serviceEnv(),
  );
  await waitFor(`http://127.0.0.1:${SERVICE_PORT}/health/ready`, 60_000, service);
  const rssAtStart = Math.round(readStatus(service.pid!, 'VmRSS'));
  await seed();
  const rssAfterSeed = Math.round(readStatus(service.pid!, 'VmRSS'));
  log(`service RSS: ${rssAtStart} MB when ready, ${rssAfterSeed} MB after the setup`);

  const secret = SECRETS.USSD_WEBHOOK_SECRET;
  const plan: [string, Journey][] = [
    ['nav', navigation(secret, true)],
    ['loan', loanRequest(secret)],
    ['balance', balance(secret)],
    ['approve', approvalsAndDeposits(secret, SECRETS.ADMIN_API_KEY)],
  ];
  for (const [key, journey] of plan) {
    if (!wanted(key)) continue;
    rows.push(await scenario(journey.name, SERVICE_PORT, service.pid!, journey, ceilingStepsPerSecond));
  }
  const memory = await serviceMemory();
  await stop(service, 30_000);

  const result = {
    when: new Date().toISOString(),
    machine: { ...machine, loadAfter: loadavg().map(round) },
    service: { rssWhenReadyMb: rssAtStart, rssAfterSetupMb: rssAfterSeed, atTheEnd: memory },
    settings: { connections: CONNECTIONS, durationSeconds: DURATION, warmupSeconds: WARMUP, profile: PROFILE },
    scenarios: rows,
    targets: targets(rows),
  };
  writeFileSync(join(root, 'bench/results.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\n${table(rows)}\n\n`);
  for (const r of rows)
    if (Object.keys(r.perKindPerSecond).length > 1)
      process.stdout.write(
        `${r.scenario}: ${Object.entries(r.perKindPerSecond)
          .map(([k, v]) => `${k} ${v}/s`)
          .join(', ')}\n`,
      );
  process.stdout.write(`service memory at the end (MB): ${JSON.stringify(memory)}\n\n`);
  for (const t of result.targets) process.stdout.write(`${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.detail}\n`);
  process.stdout.write(
    `\n${machine.cpus} CPUs (${machine.cpuModel}), load average ${machine.loadBefore.join(' ')} before, ${result.machine.loadAfter.join(' ')} after; ` +
      `the load generator runs on the same machine.\nWritten to bench/results.json\n`,
  );
}

main()
  .catch((e) => {
    log(`failed: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
