import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Report } from '../chaos/report.js';
import { ProcessTracker } from './support/processes.js';
import { currentRun, withDatabase } from './support/test-env.js';

/**
 * The short form of `npm run chaos` (docs/operations.md#faults): Deni as two production processes
 * under mixed traffic for 50 s, killed (SIGKILL), stopped (SIGTERM), cut from PostgreSQL and from
 * Redis for 10 s each, with a fixed seed whose plan holds one fault of each kind. What it must
 * show is the report's: nothing acknowledged lost, nothing applied twice, no SMS sent twice, no
 * withdrawal given back that M-PESA paid, every USSD answer a screen, the ledger's invariants, the
 * offline writes in order, and the drain finished (its time is reported, not asserted).
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SEED = 99;

describe('the fault test, short form (npm run chaos with a fixed seed)', () => {
  const processes = new ProcessTracker();
  const dir = mkdtempSync(join(tmpdir(), 'deni-chaos-test-'));
  afterAll(async () => {
    await processes.killAll(20_000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing, applies nothing twice and always answers USSD with a screen, through crashes and cuts', async () => {
    const run = currentRun();
    const reportFile = join(dir, 'report.json');
    const chaos = processes.spawn(
      join(ROOT, 'node_modules/.bin/tsx'),
      [
        'chaos/run.ts',
        `--seed=${SEED}`,
        '--duration=50',
        '--cut-seconds=10',
        '--faults=sigkill,pg-cut,redis-cut,sigterm',
        // A hang guard, not the target: how long the drain took is the report's (npm run chaos
        // holds it to 90 s); a test makes no claim about time on a shared machine.
        '--drain-timeout=180',
        `--report=${reportFile}`,
        // Named after the test run: its global teardown removes them if this run could not.
        `--database=deni_test_${run.id}_chaos`,
        `--redis-prefix=${run.redisKeyPrefix}-chaos`,
      ],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          CHAOS_PG_URL: withDatabase(run.templateDatabaseUrl, 'postgres'),
          CHAOS_REDIS_URL: run.redisUrl,
        },
      },
    );
    const exit = await chaos.exited;
    // 0: passed, 1: the report says what failed; anything else: the run itself could not be made.
    if (exit.code !== 0 && exit.code !== 1)
      throw new Error(`npm run chaos exited ${exit.code}: ${chaos.output.stderr}`);
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;

    // The run did what it says: traffic acknowledged, each fault injected.
    expect(report.seed).toBe(SEED);
    expect(report.operations.acknowledged).toBeGreaterThan(50);
    expect(report.crashes).toMatchObject({ sigkill: 1, sigterm: 1 });
    expect(report.cuts).toEqual({ postgres: 1, redis: 1 });
    expect(report.replays.sent).toBeGreaterThan(0);

    expect({ ...report.expectedZero, details: report.details.findings }).toEqual({
      invariantViolations: 0,
      lostOperations: 0,
      duplicatedOperations: 0,
      duplicateSms: 0,
      releasedInDoubt: 0,
      settledUnpaid: 0,
      ussdServerErrors: 0,
      invalidUssdScreens: 0,
      offlineOrderViolations: 0,
      rightPinLockouts: 0,
      details: expect.objectContaining({
        invariantViolations: [],
        lostOperations: [],
        duplicatedOperations: [],
        duplicateSms: [],
        releasedInDoubt: [],
        settledUnpaid: [],
        offlineOrderViolations: [],
      }) as unknown,
    });
    expect({ drained: report.drain.drained, left: report.drain.leftDetails ?? [] }).toEqual({
      drained: true,
      left: [],
    });
  }, 360_000);
});
