/**
 * `npm run bench`: load test of the USSD channel (Africa's Talking dialect) and of M-PESA deposits
 * against real PostgreSQL and Redis, compared in the same run with a "ceiling" server (bare
 * Fastify + one Redis GET and SET per request) and a "peer" (Express + ussd-menu-builder with
 * Redis sessions, bench/peer/) serving the same screens for the same navigation.
 *
 * It builds Deni (skip with --no-build), starts it with NODE_ENV=production and a generated set of
 * secrets on its own database (deni_bench) and Redis key prefix, registers subscribers with PINs,
 * then drives 100 connections of virtual subscribers through whole journeys, step by step, with
 * autocannon. Each scenario: a short warm-up, then a bounded measured run. With --instances=N it
 * then runs the service again as N API instances and one worker on the same database and Redis,
 * every step of a journey going to another instance than the step before. It prints a table, the
 * ratios and the targets, writes bench/results.json and always cleans up (database, Redis keys,
 * processes), also on Ctrl-C.
 *
 * Options: --duration=10 --warmup=2 --connections=100 --deposit-connections=50 --instances=1
 *          --only=ceiling,peer,nav,firstdial,loan,balance,approve,deposits
 *          --no-build --profile (starts the service with --cpu-prof into bench/profiles/)
 *          --node-flags="--max-semi-space-size=16" (flags for the service's node)
 *          --dist=<dir> (run another build of the service, e.g. a copy of dist/ from before a change)
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { hashPin } from '../src/users/pin.js';
import { freshSecrets, productionEnv } from '../test/support/production-env.js';
import { deleteRedisKeys } from '../test/support/run-lifecycle.js';
import { drive, percentile } from './driver.js';
import {
  approvalsAndDeposits,
  atRequest,
  balance,
  borrower,
  BORROWERS,
  DEPOSIT_LENDERS,
  depositLender,
  depositor,
  depositorLoans,
  DEPOSITORS,
  firstDials,
  lender,
  LENDERS,
  loanRequest,
  local,
  navigation,
  paybillDeposits,
  PIN,
  REPAYMENT,
  RUN_ID,
  type Journey,
} from './journeys.js';
import { shippedNodeFlags } from './shipped-node-flags.js';
import { children, cpuMs, log, peakRss, readStatus, readyLine, start, stop, waitFor } from './processes.js';
import { CEILING, ONE_PROCESS, PEER, ratios, scaleOut, table, targets, type Row } from './report.js';

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
/** The deposits scenario's connections (the issue's target is stated at 50). */
const DEPOSIT_CONNECTIONS = Number(args.get('deposit-connections') ?? 50);
/** API instances of the second layout (with one worker); 1: the one-process layout only. */
const INSTANCES = Math.max(1, Number(args.get('instances') ?? 1));
const ONLY = args.get('only')?.split(',');
const BUILD = !args.has('no-build');
const PROFILE = args.has('profile');
/** Another build to run instead of dist/ (for before/after comparisons); inside the project, for node_modules. */
const DIST = args.get('dist') ?? 'dist';
/**
 * The flags for the service's node: those Deni ships with (`npm run start:prod`'s, which the image
 * and the compose file set too), unless --node-flags gives others (space-separated; "" for none).
 */
const NODE_FLAGS = (args.get('node-flags') ?? shippedNodeFlags().join(' ')).split(' ').filter(Boolean);

const SERVICE_PORT = Number(process.env.BENCH_PORT ?? 5710);
const CEILING_PORT = SERVICE_PORT + 1;
/** API instance k (from 0) of the scale-out layout listens on SERVICE_PORT + 2 + k, its worker after the last. */
const WORKER_PORT = SERVICE_PORT + 2 + INSTANCES;
/** Dropped and created again by each run: BENCH_DB gives two benches on one machine a database each. */
const DB_NAME = process.env.BENCH_DB ?? 'deni_bench';
const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DATABASE_URL = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${DB_NAME}`);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `deni-bench-${process.pid}`;
const NODE = join(root, 'node_modules/.bin/node');
/** Deni's paybill (MPESA_SHORTCODE's default): the deposits' confirmations name it. */
const SHORTCODE = '174379';

const SECRETS = freshSecrets();

// ------------------------------------------------------------------ cleanup

let tempDir: string | undefined;
let databaseCreated = false;

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

// ------------------------------------------------------------------ measuring

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

/**
 * Journeys cut off by the end of a run leave "resume where you left off" offers for their phones:
 * withdrawn between runs, so that every scenario starts from the main menu.
 */
async function forgetCutOffJourneys(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1_000)); // steps still being answered when the run stopped
  await deleteRedisKeys(REDIS_URL, [`${PREFIX}:ussd:resume:*`]);
}

/** What serves a scenario: its ports (one per instance) and every process whose CPU and memory count. */
interface Served {
  layout: string;
  ports: number[];
  pids: number[];
  /** Deni's database is counted (transactions per step); not for the ceiling and the peer. */
  database: boolean;
}

const round = (x: number) => Math.round(x * 10) / 10;

async function scenario(
  journey: Journey,
  target: Served,
  connections: number,
  compare: { ceiling?: Row; peer?: Row },
): Promise<Row> {
  const label = `${journey.name} (${target.layout})`;
  log(`${label}: warm-up ${WARMUP}s`);
  if (WARMUP > 0) await drive(target.ports, journey, WARMUP, connections);
  await forgetCutOffJourneys();
  log(`${label}: measuring ${DURATION}s at ${connections} connections`);
  const db = target.database ? await dbTransactions() : null;
  const cpuBefore = target.pids.map(cpuMs);
  const { result: m, peakMb } = await peakRss(target.pids, () => drive(target.ports, journey, DURATION, connections));
  const cpu = target.pids.reduce((sum, pid, i) => sum + cpuMs(pid) - cpuBefore[i], 0);
  await forgetCutOffJourneys();
  await new Promise((r) => setTimeout(r, db === null ? 0 : 1_100));
  const dbAfter = db === null ? null : await dbTransactions();
  const sorted = Array.from(Float64Array.from(m.latencies).sort());
  const stepsPerSecond = m.steps / m.seconds;
  const errors = m.errors.non2xx + m.errors.wrongScreen + m.errors.transport + m.errors.timeouts;
  if (m.samples.length) log(`${label}: ${errors} errors, e.g.\n  ${m.samples.join('\n  ')}`);
  const isNavigation = journey.name === 'navigation' || journey.name === 'first dial';
  const vs = (other: Row | undefined) =>
    other?.stepsPerSecond ? Math.round((stepsPerSecond / other.stepsPerSecond) * 100) / 100 : null;
  return {
    scenario: journey.name,
    layout: target.layout,
    connections,
    stepsPerJourney: journey.steps,
    stepsPerSecond: Math.round(stepsPerSecond),
    journeysPerSecond: Math.round((m.journeys / m.seconds) * 10) / 10,
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    errors,
    errorDetail: m.errors,
    peakRssMb: Math.round(peakMb),
    cpuMsPerStep: m.steps ? Math.round((cpu / m.steps) * 100) / 100 : 0,
    dbTransactionsPerStep:
      db === null || dbAfter === null || !m.steps ? null : Math.round(((dbAfter - db) / m.steps) * 100) / 100,
    ratioToCeiling: vs(compare.ceiling),
    // Only navigation is served by the peer: other scenarios' steps are not its steps.
    ratioToPeer: isNavigation ? vs(compare.peer) : null,
    sameInstanceShare:
      target.ports.length > 1 && m.steps ? Math.round((m.sameInstanceSteps / m.steps) * 1000) / 1000 : null,
    perKindPerSecond: Object.fromEntries(Object.entries(m.byKind).map(([k, v]) => [k, round(v / m.seconds)])),
    samples: m.samples,
  };
}

// ------------------------------------------------------------------ the service's layouts

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
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    LOCAL_SERVICES: 'false',
    DATABASE_URL,
    REDIS_URL,
    REDIS_KEY_PREFIX: PREFIX,
    // The limit is per phone number; the bench's subscribers step far faster than people do.
    USSD_RATE_LIMIT_PER_MINUTE: '1000',
    LOAN_MAX_PENDING: '100',
    // The deposits scenario posts Daraja's paybill confirmations from this machine, and credits
    // them without asking Transaction Status (there is no Daraja to ask).
    MPESA_CALLBACK_ALLOWED_IPS: '127.0.0.1/32',
    MPESA_C2B_VERIFY: 'false',
  };
}

interface Layout extends Served {
  processes: ChildProcess[];
}

/** One process (APP_ROLE=all), or `instances` API processes and one worker. */
async function startLayout(instances: number): Promise<Layout> {
  const profileDir = join(root, 'bench/profiles');
  if (PROFILE) mkdirSync(profileDir, { recursive: true });
  const env = serviceEnv();
  const node = (name: string, role: string, port: number) =>
    start(
      name,
      NODE,
      [...NODE_FLAGS, ...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), `${DIST}/main.js`],
      { ...env, APP_ROLE: role, PORT: String(port) },
      root,
    );
  const layout: Layout =
    instances === 1
      ? { layout: ONE_PROCESS, ports: [SERVICE_PORT], pids: [], database: true, processes: [] }
      : {
          layout: `${instances} API + worker`,
          ports: Array.from({ length: instances }, (_, k) => SERVICE_PORT + 2 + k),
          pids: [],
          database: true,
          processes: [],
        };
  log(
    `starting the service (NODE_ENV=production, ${layout.layout}) on :${layout.ports.join(', :')}, database ${DB_NAME}, Redis prefix ${PREFIX}`,
  );
  if (instances === 1) layout.processes.push(node('service', 'all', SERVICE_PORT));
  else {
    layout.ports.forEach((port, k) => layout.processes.push(node(`api ${k + 1}`, 'api', port)));
    layout.processes.push(node('worker', 'worker', WORKER_PORT));
  }
  const probes = instances === 1 ? layout.ports : [...layout.ports, WORKER_PORT];
  await Promise.all(
    probes.map((port, i) => waitFor(`http://127.0.0.1:${port}/health/ready`, 60_000, layout.processes[i])),
  );
  layout.pids = layout.processes.map((p) => p.pid!);
  return layout;
}

async function stopLayout(layout: Layout): Promise<void> {
  for (const p of layout.processes) await stop(p, 30_000);
}

/** Each process's RSS now, in MB. */
const rssNow = (layout: Layout) => layout.pids.map((pid) => Math.round(readStatus(pid, 'VmRSS')));

/** The service's own memory figures at the end (from /metrics), to tell the V8 heap from the rest. */
async function serviceMemory(port: number): Promise<Record<string, number>> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
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

// ------------------------------------------------------------------ setup of subscribers and loans

async function ussd(port: number, phone: string, session: string, text: string): Promise<string> {
  const req = atRequest(SECRETS.USSD_WEBHOOK_SECRET, session, phone, text);
  const res = await fetch(`http://127.0.0.1:${port}${req.path}`, {
    method: 'POST',
    headers: req.headers,
    body: req.body,
  });
  return res.text();
}

async function inBatches<T>(items: T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

/** Registers subscribers (a first dial each) and gives them the bench's PIN. */
async function register(port: number, phones: string[]): Promise<void> {
  await inBatches(phones, 50, async (phone) => {
    const reply = await ussd(port, phone, `setup-${RUN_ID}-${phone}`, '');
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
}

/** Puts money in lenders' wallets (operator deposits). */
async function fund(port: number, phones: string[]): Promise<void> {
  await inBatches(phones, 20, async (phone) => {
    const res = await fetch(`http://127.0.0.1:${port}/api/admin/deposits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': SECRETS.ADMIN_API_KEY },
      body: JSON.stringify({ phoneNumber: phone, amount: 5_000_000, reference: `BENCHFUND${phone}` }),
    });
    if (!res.ok) throw new Error(`funding ${phone}: ${res.status} ${await res.text()}`);
  });
}

async function seed(port: number): Promise<void> {
  const lenders = Array.from({ length: LENDERS }, (_, i) => lender(i));
  await register(port, [...Array.from({ length: BORROWERS }, (_, i) => borrower(i)), ...lenders]);
  await fund(port, lenders);
  log(`seeded ${BORROWERS} borrowers and ${LENDERS} funded lenders, all with PIN ${PIN}`);
}

/** Large enough that no loan is repaid by the deposits of a run (each repays REPAYMENT a deposit). */
const DEPOSIT_LOAN_AMOUNT = 20_000;
/** A write Deni could not finish online in time, taken by its offline queue (done a little later). */
const QUEUED = 'Saved. It will be done when the service is back';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `read` until `done` says so, for up to `ms`; gives the last value read. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await sleep(500);
    value = await read();
  }
  return value;
}

/**
 * The deposits scenario's borrowers, each with 1–3 active loans: every request and every approval
 * made as a subscriber would, by USSD (a shortcut dial each: `*383*1*lender*amount*repayment*1*PIN#`,
 * then the lender's `*383*3*1*1*PIN#` for each request waiting), then checked in the database. A
 * busy machine may answer some of them from the offline queue, or not at all: those are waited
 * for, or asked again.
 */
async function setUpDepositors(port: number): Promise<void> {
  const depositors = Array.from({ length: DEPOSITORS }, (_, i) => depositor(i));
  const lenders = Array.from({ length: DEPOSIT_LENDERS }, (_, i) => depositLender(i));
  await register(port, [...depositors, ...lenders]);
  await fund(port, lenders);
  const requests = depositors.flatMap((phone, i) =>
    depositorLoans(i).map((l) => ({ phone, lender: depositLender(l) })),
  );
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  /** The depositors' loans in `status`, per lender's phone. */
  const loansByLender = async (status: 'PENDING' | 'ACTIVE'): Promise<Map<string, number>> => {
    const res = await db.query<{ phone: string; n: string }>(
      `SELECT le.phone_number AS phone, count(*) AS n FROM loans l
         JOIN users b ON b.id = l.borrower_id JOIN users le ON le.id = l.lender_id
        WHERE b.phone_number = ANY($1) AND l.status = $2 GROUP BY le.phone_number`,
      [depositors, status],
    );
    return new Map(res.rows.map((r) => [r.phone, Number(r.n)]));
  };
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  let attempt = 0;
  try {
    await inBatches(requests, 10, async ({ phone, lender: to }) => {
      const text = ['1', local(to), String(DEPOSIT_LOAN_AMOUNT), String(REPAYMENT), '1', PIN].join('*');
      for (let tries = 1; ; tries++) {
        const reply = await ussd(port, phone, `setup-${RUN_ID}-${attempt++}`, text);
        if (/Loan request sent|already waiting|Saved\. /.test(reply)) return;
        if (tries === 5) throw new Error(`loan request ${phone} → ${to}: ${reply}`);
        await sleep(500);
      }
    });
    const pending = await until(
      () => loansByLender('PENDING'),
      (m) => total(m) === requests.length,
      120_000,
    );
    if (total(pending) !== requests.length)
      throw new Error(`${total(pending)} loan requests made for the depositors, ${requests.length} expected`);
    await inBatches([...pending], 10, async ([phone, count]) => {
      for (let approved = 0, tries = 0; approved < count;) {
        if (++tries > count * 5) throw new Error(`${phone} could approve ${approved} of ${count} requests`);
        const reply = await ussd(port, phone, `setup-${RUN_ID}-${attempt++}`, ['3', '1', '1', PIN].join('*'));
        if (reply.includes('APPROVED')) approved += 1;
        else if (reply.includes(QUEUED)) {
          // Approved by the offline queue a little later: the next dial must not find it waiting.
          const left = count - approved - 1;
          await until(
            async () => (await loansByLender('PENDING')).get(phone) ?? 0,
            (n) => n <= left,
            60_000,
          );
          approved = count - ((await loansByLender('PENDING')).get(phone) ?? 0);
        } else await sleep(500);
      }
    });
    const active = total(await loansByLender('ACTIVE'));
    if (active !== requests.length)
      throw new Error(`${active} active loans for the depositors, ${requests.length} expected`);
    // Every request and approval left SMS to send: sent before measuring, not during.
    const since = Date.now();
    const unsent = await until(
      async () =>
        Number(
          (
            await db.query<{ n: string }>(
              `SELECT count(*) AS n FROM notifications WHERE status IN ('pending', 'sending')`,
            )
          ).rows[0]?.n,
        ),
      (n) => n === 0,
      120_000,
    );
    log(
      `the setup's SMS: ${unsent ? `${unsent} still unsent` : 'all sent'} after ${Math.round((Date.now() - since) / 1000)} s`,
    );
  } finally {
    await db.end();
  }
  log(`set up ${DEPOSITORS} depositors with ${requests.length} active loans (1–3 each)`);
}

// ------------------------------------------------------------------ the other servers

async function startOther(name: string, script: string, env: Record<string, string>): Promise<Layout> {
  const child = start(name, NODE, ['--import', 'tsx', script], { REDIS_URL, REDIS_KEY_PREFIX: PREFIX, ...env }, root);
  const port = (await readyLine(child, name)) ?? Number(env.PORT);
  return { layout: name, ports: [port], pids: [child.pid!], database: false, processes: [child] };
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
  const compare: { ceiling?: Row; peer?: Row } = {};
  const secret = SECRETS.USSD_WEBHOOK_SECRET;

  if (wanted('ceiling')) {
    const ceiling = await startOther(CEILING, 'bench/ceiling-server.ts', { PORT: String(CEILING_PORT) });
    compare.ceiling = await scenario(navigation(undefined, false), ceiling, CONNECTIONS, {});
    rows.push(compare.ceiling);
    await stop(ceiling.processes[0]);
  }
  if (wanted('peer')) {
    const peer = await startOther(PEER, 'bench/peer/server.ts', { PORT: '0', USSD_WEBHOOK_SECRET: secret });
    compare.peer = await scenario(navigation(secret, true), peer, CONNECTIONS, compare);
    rows.push(compare.peer);
    await stop(peer.processes[0]);
  }

  const plan: [string, Journey, number][] = [
    ['nav', navigation(secret, true), CONNECTIONS],
    ['firstdial', firstDials(secret), CONNECTIONS],
    ['loan', loanRequest(secret), CONNECTIONS],
    ['balance', balance(secret), CONNECTIONS],
    ['approve', approvalsAndDeposits(secret, SECRETS.ADMIN_API_KEY), CONNECTIONS],
    ['deposits', paybillDeposits(SECRETS.MPESA_CALLBACK_SECRET, SHORTCODE), DEPOSIT_CONNECTIONS],
  ];
  const services: Record<string, unknown> = {};
  if (plan.some(([key]) => wanted(key))) {
    await dropDatabase(); // a leftover of an interrupted run
    databaseCreated = true;
    let depositorsReady = false;
    for (const instances of INSTANCES > 1 ? [1, INSTANCES] : [1]) {
      const layout = await startLayout(instances);
      const rssAtStart = rssNow(layout);
      if (instances === 1) await seed(layout.ports[0]);
      const rssAfterSeed = rssNow(layout);
      log(
        `${layout.layout}: RSS ${rssAtStart.join(', ')} MB when ready, ${rssAfterSeed.join(', ')} MB after the setup`,
      );
      for (const [key, journey, connections] of plan) {
        if (!wanted(key)) continue;
        if (key === 'deposits' && !depositorsReady) {
          await setUpDepositors(layout.ports[0]);
          depositorsReady = true;
        }
        rows.push(await scenario(journey, layout, connections, compare));
      }
      services[layout.layout] = {
        rssWhenReadyMb: rssAtStart,
        rssAfterSetupMb: rssAfterSeed,
        atTheEnd: await serviceMemory(layout.ports[0]),
      };
      await stopLayout(layout);
    }
  }

  const result = {
    when: new Date().toISOString(),
    machine: { ...machine, loadAfter: loadavg().map(round) },
    service: services,
    settings: {
      connections: CONNECTIONS,
      depositConnections: DEPOSIT_CONNECTIONS,
      instances: INSTANCES,
      durationSeconds: DURATION,
      warmupSeconds: WARMUP,
      profile: PROFILE,
    },
    scenarios: rows,
    ratios: ratios(rows),
    scaleOut: scaleOut(rows),
    targets: targets(rows),
  };
  writeFileSync(join(root, 'bench/results.json'), `${JSON.stringify(result, null, 2)}\n`);
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out();
  out(table(rows));
  out();
  for (const r of rows)
    if (Object.keys(r.perKindPerSecond).length > 1)
      out(
        `${r.scenario} (${r.layout}): ${Object.entries(r.perKindPerSecond)
          .map(([k, v]) => `${k} ${v}/s`)
          .join(', ')}`,
      );
  out(`ratios: ${JSON.stringify(result.ratios)}`);
  for (const [name, s] of Object.entries(result.scaleOut))
    out(
      `scale-out, ${name}: steps/s ${JSON.stringify(s.stepsPerSecond)}, against one process ${JSON.stringify(s.toOneProcess)}, share of steps not alternating ${JSON.stringify(s.notAlternating)}`,
    );
  out(`service memory at the end (MB): ${JSON.stringify(services)}`);
  out();
  for (const t of result.targets) out(`${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.detail}`);
  out();
  out(
    `${machine.cpus} CPUs (${machine.cpuModel}), load average ${machine.loadBefore.join(' ')} before, ${result.machine.loadAfter.join(' ')} after; ` +
      `the load generator runs on the same machine.`,
  );
  out('Written to bench/results.json');
}

main()
  .catch((e) => {
    log(`failed: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
