/** The bench's report: one row per scenario and layout, the ratios between them, and the targets. */
import type { Measured } from './driver.js';

export interface Row {
  scenario: string;
  /** What served it: the ceiling, the peer, or Deni as one process or as API instances and a worker. */
  layout: string;
  connections: number;
  stepsPerJourney: number;
  stepsPerSecond: number;
  journeysPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  errorDetail: Measured['errors'];
  /** The largest peak RSS of the layout's processes during the run. */
  peakRssMb: number;
  /** CPU time the server processes used per step (user + system): less sensitive to a busy machine than steps/s. */
  cpuMsPerStep: number;
  /** PostgreSQL transactions per step (approximate: statistics are flushed about once a second). */
  dbTransactionsPerStep: number | null;
  ratioToCeiling: number | null;
  ratioToPeer: number | null;
  /**
   * With several instances: the share of steps that went to the same instance as their journey's
   * step before (see driver.ts; 0 when every journey alternated throughout).
   */
  sameInstanceShare: number | null;
  /** Per second, by kind of journey (the mixed scenario: approvals and deposits). */
  perKindPerSecond: Record<string, number>;
  samples: string[];
}

export interface Target {
  name: string;
  pass: boolean;
  detail: string;
}

export const ONE_PROCESS = 'one process';
export const CEILING = 'ceiling';
export const PEER = 'peer';

const round2 = (x: number) => Math.round(x * 100) / 100;
const ratio = (a: number | undefined, b: number | undefined) => (a && b ? round2(a / b) : null);

/** Deni's figures against the ceiling's and the peer's, and first dials against known phones. */
export function ratios(rows: Row[]) {
  const ceiling = rows.find((r) => r.layout === CEILING);
  const peer = rows.find((r) => r.layout === PEER);
  const deni = (s: string) => rows.find((r) => r.layout === ONE_PROCESS && r.scenario === s);
  const nav = deni('navigation');
  const first = deni('first dial');
  return {
    navigationToCeiling: ratio(nav?.stepsPerSecond, ceiling?.stepsPerSecond),
    navigationToPeer: ratio(nav?.stepsPerSecond, peer?.stepsPerSecond),
    peerToCeiling: ratio(peer?.stepsPerSecond, ceiling?.stepsPerSecond),
    navigationP99ToCeilingP99: ratio(nav?.p99, ceiling?.p99),
    navigationP99ToPeerP99: ratio(nav?.p99, peer?.p99),
    firstDialToNavigation: ratio(first?.stepsPerSecond, nav?.stepsPerSecond),
  };
}

interface ScaleOut {
  stepsPerSecond: Record<string, number>;
  /** Each layout's steps/s over the one process's. */
  toOneProcess: Record<string, number | null>;
  /** The share of steps that went to the same instance as their journey's step before. */
  notAlternating: Record<string, number>;
}

/** Each scenario's steps/s with several API instances against one process, from the same run. */
export function scaleOut(rows: Row[]): Record<string, ScaleOut> {
  const out: Record<string, ScaleOut> = {};
  for (const r of rows) {
    if (r.layout === CEILING || r.layout === PEER) continue;
    const s = (out[r.scenario] ??= { stepsPerSecond: {}, toOneProcess: {}, notAlternating: {} });
    s.stepsPerSecond[r.layout] = r.stepsPerSecond;
    if (r.sameInstanceShare !== null) s.notAlternating[r.layout] = r.sameInstanceShare;
  }
  for (const [scenario, s] of Object.entries(out)) {
    const layouts = Object.keys(s.stepsPerSecond).filter((l) => l !== ONE_PROCESS);
    if (!layouts.length) delete out[scenario];
    for (const l of layouts) s.toOneProcess[l] = ratio(s.stepsPerSecond[l], s.stepsPerSecond[ONE_PROCESS]);
  }
  return out;
}

/** The targets of the performance issue, from the one-process layout (peak RSS: every Deni process). */
export function targets(rows: Row[]): Target[] {
  const out: Target[] = [];
  const add = (name: string, pass: boolean, detail: string) => out.push({ name, pass, detail });
  const ceiling = rows.find((r) => r.layout === CEILING);
  const peer = rows.find((r) => r.layout === PEER);
  const deni = (s: string) => rows.find((r) => r.layout === ONE_PROCESS && r.scenario === s);
  // A run that answered nothing has a p99 of 0, which meets no latency target.
  const fast = (x: Row, ms: number) => x.stepsPerSecond > 0 && x.p99 <= ms;
  const r = ratios(rows);
  const nav = deni('navigation');
  if (nav && ceiling) {
    add('navigation ≥ 0.6 × the ceiling (steps/s)', (r.navigationToCeiling ?? 0) >= 0.6, `${r.navigationToCeiling} ×`);
    add(
      "navigation p99 ≤ 2 × the ceiling's p99",
      fast(nav, 2 * ceiling.p99),
      `${nav.p99} ms against ${ceiling.p99} ms (${r.navigationP99ToCeilingP99} ×)`,
    );
  }
  if (nav && peer) {
    add('navigation ≥ 1.8 × the peer (steps/s)', (r.navigationToPeer ?? 0) >= 1.8, `${r.navigationToPeer} ×`);
    add(
      "navigation p99 below the peer's",
      fast(nav, peer.p99) && nav.p99 < peer.p99,
      `${nav.p99} ms against ${peer.p99} ms`,
    );
  }
  const first = deni('first dial');
  if (nav && first)
    add(
      'first dials ≥ 0.8 × known-phone navigation (steps/s)',
      (r.firstDialToNavigation ?? 0) >= 0.8,
      `${r.firstDialToNavigation} ×`,
    );
  const loan = deni('loan request');
  if (loan) add('loan requests ≥ 600 journeys/s', loan.journeysPerSecond >= 600, `${loan.journeysPerSecond}/s`);
  const deposits = deni('deposits');
  if (deposits) {
    add('deposits ≥ 1,000/s', deposits.journeysPerSecond >= 1000, `${deposits.journeysPerSecond}/s`);
    add('deposits p99 ≤ 150 ms', fast(deposits, 150), `${deposits.p99} ms (p50 ${deposits.p50} ms)`);
  }
  const service = rows.filter((x) => x.layout !== CEILING && x.layout !== PEER);
  const errors = service.reduce((s, x) => s + x.errors, 0);
  add('no errors', errors === 0, String(errors));
  if (service.length) {
    const rss = Math.max(0, ...service.map((x) => x.peakRssMb));
    add('peak RSS ≤ 300 MB per process', rss <= 300, `${rss} MB`);
  }
  return out;
}

export function table(rows: Row[]): string {
  const head = [
    'scenario',
    'layout',
    'conns',
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
    'vs peer',
  ];
  const pct = (x: number | null) => (x === null ? '—' : `${Math.round(x * 100)}%`);
  const body = rows.map((r) => [
    r.scenario,
    r.layout,
    String(r.connections),
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
    pct(r.ratioToCeiling),
    pct(r.ratioToPeer),
  ]);
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => ' --- ').join('|')}|`,
    ...body.map((b) => `| ${b.join(' | ')} |`),
  ].join('\n');
}
