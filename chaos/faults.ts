/**
 * The faults of a run, planned from the seed before it starts and injected at their moments of the
 * load, one after another: Deni killed (SIGKILL) and started again, Deni stopped as a rolling
 * deploy stops it (SIGTERM) and started again, PostgreSQL cut and Redis cut for a while (their TCP
 * proxies drop every connection and refuse new ones; the servers themselves are never touched).
 */
import { Random } from './random.js';
import type { Role, Stack } from './stack.js';

export const FAULT_KINDS = ['sigkill', 'pg-cut', 'redis-cut', 'sigterm'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  kind: FaultKind;
  /** Planned start, in ms from the start of the load. */
  atMs: number;
  /** Which of Deni's processes a signal goes to. */
  targets: Role[];
  /** How long a cut lasts; for a signal, how long after the exit the process is started again. */
  lengthMs: number;
  /** What happened: actual start and end (ms from the start of the load), and how long a stop took. */
  startedMs?: number;
  endedMs?: number;
  stopMs?: number;
}

/** How long each kind keeps the run busy, for spacing the plan (a start of Deni takes seconds). */
const BUSY_MS: Record<FaultKind, (length: number) => number> = {
  sigkill: (restartAfter) => restartAfter + 4_000,
  sigterm: (restartAfter) => restartAfter + 8_000,
  'pg-cut': (cut) => cut,
  'redis-cut': (cut) => cut,
};

/**
 * Faults at random moments of a load of `durationMs`: every kind asked for once first (in an
 * order the seed decides), then any kind, until the load's end leaves no room.
 */
export function planFaults(seed: number, kinds: readonly FaultKind[], durationMs: number, cutMs: number): Fault[] {
  const random = new Random(seed, 'faults');
  const first = [...kinds];
  for (let i = first.length - 1; i > 0; i -= 1) {
    const j = random.int(0, i);
    [first[i], first[j]] = [first[j], first[i]];
  }
  const faults: Fault[] = [];
  let at = random.int(3_000, 6_000);
  for (let i = 0; kinds.length > 0; i += 1) {
    const kind = i < first.length ? first[i] : random.pick(kinds);
    const signal = kind === 'sigkill' || kind === 'sigterm';
    const lengthMs = signal ? random.int(200, 2_000) : cutMs;
    const targets: Role[] = signal ? random.pick<Role[]>([['api'], ['worker'], ['api', 'worker']]) : [];
    if (at + BUSY_MS[kind](lengthMs) + 2_000 > durationMs) break;
    faults.push({ kind, atMs: at, targets, lengthMs });
    at += BUSY_MS[kind](lengthMs) + random.int(2_000, 10_000);
  }
  return faults;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Injects `faults` at their moments of a load that started at `loadStart`, until `running()` says
 * the load is over; `after` is called as each one ends (the traffic replays some operations then).
 */
export async function inject(
  faults: Fault[],
  stack: Stack,
  loadStart: number,
  running: () => boolean,
  after: (fault: Fault) => Promise<void>,
  log: (message: string) => void,
): Promise<Fault[]> {
  const done: Fault[] = [];
  const afterwards: Promise<void>[] = [];
  for (const fault of faults) {
    while (Date.now() - loadStart < fault.atMs && running()) await sleep(Math.min(200, fault.atMs));
    if (!running()) break;
    fault.startedMs = Date.now() - loadStart;
    switch (fault.kind) {
      case 'pg-cut':
      case 'redis-cut': {
        const proxy = fault.kind === 'pg-cut' ? stack.postgresProxy : stack.redisProxy;
        log(`${fault.kind === 'pg-cut' ? 'PostgreSQL' : 'Redis'} cut for ${fault.lengthMs / 1000} s`);
        proxy.cut();
        await sleep(fault.lengthMs);
        proxy.restore();
        break;
      }
      case 'sigkill':
      case 'sigterm': {
        const signal = fault.kind === 'sigkill' ? 'SIGKILL' : 'SIGTERM';
        log(`${signal} to Deni's ${fault.targets.join(' and ')}`);
        const stopping = Date.now();
        await Promise.all(fault.targets.map((role) => stack.stop(role, signal)));
        fault.stopMs = Date.now() - stopping;
        await sleep(fault.lengthMs);
        for (const role of fault.targets) stack.restart(role);
        break;
      }
    }
    fault.endedMs = Date.now() - loadStart;
    done.push(fault);
    afterwards.push(after(fault));
  }
  await Promise.all(afterwards);
  return done;
}
