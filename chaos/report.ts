/**
 * The run's report: what was done (operations acknowledged, crashes, cuts, replays), then what
 * must be zero, and how long the drain took after the load. Printed, and written as JSON.
 */
import type { DrainResult, Findings } from './checks.js';
import type { UssdStats, RestStats } from './client.js';
import type { Fault } from './faults.js';
import { KINDS, type Kind, type Operation, type TrafficStats } from './traffic.js';

/** The drain's target after the load (the issue's): a goal, reported against. */
export const DRAIN_TARGET_SECONDS = 90;

export interface Report {
  seed: number;
  replay: string;
  when: string;
  settings: Record<string, unknown>;
  load: { seconds: number; requests: number };
  operations: {
    started: number;
    acknowledged: number;
    acknowledgedOffline: number;
    byKind: Record<Kind, { started: number; sent: number; acknowledged: number; offline: number }>;
  };
  crashes: { sigkill: number; sigterm: number; processStarts: Record<string, number> };
  cuts: { postgres: number; redis: number };
  replays: { sent: number; answered: number; disagreements: number; restRetries: number };
  /** Each expected to be 0. */
  expectedZero: {
    invariantViolations: number;
    lostOperations: number;
    duplicatedOperations: number;
    duplicateSms: number;
    releasedInDoubt: number;
    settledUnpaid: number;
    ussdServerErrors: number;
    invalidUssdScreens: number;
    offlineOrderViolations: number;
    rightPinLockouts: number;
  };
  drain: DrainResult & { targetSeconds: number };
  pass: boolean;
  /** Why it failed, one line each (empty when it passed). */
  failures: string[];
  details: {
    findings: Findings;
    /** Subscribers told their PIN was locked although the run never typed a wrong one. */
    rightPinLockouts: string[];
    replayDisagreements: string[];
    /** Why operations were not acknowledged: their last answer (numbers, amounts and refs blanked), by kind. */
    notAcknowledged: Record<string, Record<string, number>>;
    ussd: UssdStats;
    rest: RestStats;
    faults: Fault[];
    /** Every operation, as the run recorded it (for replaying a finding by hand). */
    operations: Operation[];
  };
}

export function buildReport(input: {
  seed: number;
  replay: string;
  settings: Record<string, unknown>;
  loadSeconds: number;
  requests: number;
  operations: Operation[];
  traffic: TrafficStats;
  faults: Fault[];
  processStarts: Record<string, number>;
  ussd: UssdStats;
  rest: RestStats;
  lockedOut: Map<string, string>;
  drain: DrainResult;
  findings: Findings;
}): Report {
  const { operations, findings: f } = input;
  const byKind = Object.fromEntries(
    KINDS.map((kind) => {
      const ops = operations.filter((op) => op.kind === kind);
      return [
        kind,
        {
          started: ops.length,
          sent: ops.filter((op) => op.sent).length,
          acknowledged: ops.filter((op) => op.acked).length,
          offline: ops.filter((op) => op.acked === 'offline').length,
        },
      ];
    }),
  ) as Report['operations']['byKind'];
  const count = (kind: Fault['kind']) => input.faults.filter((x) => x.kind === kind).length;
  const disagreements = operations.flatMap((op) => op.disagreements.map((d) => `${op.kind} #${op.k}: ${d}`));
  const expectedZero: Report['expectedZero'] = {
    invariantViolations: f.invariantViolations.length,
    lostOperations: f.lostOperations.length,
    duplicatedOperations: f.duplicatedOperations.length,
    duplicateSms: f.duplicateSms.length,
    releasedInDoubt: f.releasedInDoubt.length,
    settledUnpaid: f.settledUnpaid.length,
    ussdServerErrors: input.ussd.serverErrors,
    invalidUssdScreens: input.ussd.invalidScreens,
    offlineOrderViolations: f.offlineOrderViolations.length,
    rightPinLockouts: input.lockedOut.size,
  };
  const failures = Object.entries(expectedZero)
    .filter(([, n]) => n > 0)
    .map(([name, n]) => `${name}: ${n}`);
  if (!input.drain.drained) failures.push(`not drained after ${input.drain.seconds} s`);
  else if (input.drain.seconds > DRAIN_TARGET_SECONDS)
    failures.push(`drain took ${input.drain.seconds} s (target ${DRAIN_TARGET_SECONDS} s)`);
  return {
    seed: input.seed,
    replay: input.replay,
    when: new Date().toISOString(),
    settings: input.settings,
    load: { seconds: input.loadSeconds, requests: input.requests },
    operations: {
      started: operations.length,
      acknowledged: operations.filter((op) => op.acked).length,
      acknowledgedOffline: operations.filter((op) => op.acked === 'offline').length,
      byKind,
    },
    crashes: { sigkill: count('sigkill'), sigterm: count('sigterm'), processStarts: input.processStarts },
    cuts: { postgres: count('pg-cut'), redis: count('redis-cut') },
    replays: {
      sent: input.traffic.replaysSent,
      answered: input.traffic.replaysAnswered,
      disagreements: disagreements.length,
      restRetries: input.traffic.retries,
    },
    expectedZero,
    drain: { ...input.drain, targetSeconds: DRAIN_TARGET_SECONDS },
    pass: failures.length === 0,
    failures,
    details: {
      findings: f,
      rightPinLockouts: [...input.lockedOut].map(([phone, where]) => `${phone}: ${where}`),
      replayDisagreements: disagreements,
      notAcknowledged: notAcknowledged(operations),
      ussd: input.ussd,
      rest: input.rest,
      faults: input.faults,
      operations,
    },
  };
}

function notAcknowledged(operations: Operation[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const op of operations) {
    if (op.acked) continue;
    const why = (op.answer ?? 'stopped before its last step').replace(/\d+/g, '#').replace(/\s+/g, ' ');
    out[op.kind] ??= {};
    out[op.kind][why] = (out[op.kind][why] ?? 0) + 1;
  }
  return out;
}

const LABELS: Record<keyof Report['expectedZero'], string> = {
  invariantViolations: 'ledger invariant violations',
  lostOperations: 'acknowledged operations lost',
  duplicatedOperations: 'operations applied twice',
  duplicateSms: 'SMS sent twice',
  releasedInDoubt: 'money given back that M-PESA paid',
  settledUnpaid: 'withdrawals settled M-PESA never paid',
  ussdServerErrors: '5xx to the USSD gateway',
  invalidUssdScreens: 'invalid USSD screens',
  offlineOrderViolations: 'offline writes out of order',
  rightPinLockouts: 'PINs locked although always right',
};

export function printReport(r: Report, out: (line: string) => void): void {
  const row = (label: string, value: string) => out(`  ${label.padEnd(40)} ${value}`);
  out('');
  out(`chaos run, seed ${r.seed}: ${r.load.seconds} s of load, ${r.load.requests} requests`);
  row(
    'operations acknowledged',
    `${r.operations.acknowledged} of ${r.operations.started} started (${r.operations.acknowledgedOffline} saved offline)`,
  );
  for (const [kind, k] of Object.entries(r.operations.byKind))
    if (k.started) row(`  ${kind}`, `${k.acknowledged} of ${k.started}${k.offline ? ` (${k.offline} offline)` : ''}`);
  row('crashes', `${r.crashes.sigkill} SIGKILL, ${r.crashes.sigterm} SIGTERM`);
  row('cuts', `${r.cuts.postgres} PostgreSQL, ${r.cuts.redis} Redis`);
  row(
    'replays',
    `${r.replays.sent} sent (${r.replays.answered} answered, ${r.replays.disagreements} disagreeing), ${r.replays.restRetries} REST retries`,
  );
  const u = r.details.ussd;
  row(
    'USSD steps',
    `${u.steps}: slowest answer ${u.slowestMs} ms, ${u.over2s} over 2 s, ${u.unanswered} unanswered (Deni down)`,
  );
  const restErrors = Object.entries(r.details.rest.serverErrors).map(([status, n]) => `${n} × ${status}`);
  row('REST answers 5xx (503: a dependency away)', restErrors.join(', ') || 'none');
  out('');
  for (const [key, label] of Object.entries(LABELS))
    row(label, String(r.expectedZero[key as keyof Report['expectedZero']]));
  row(
    'drain after the load',
    r.drain.drained
      ? `${r.drain.seconds} s (target < ${r.drain.targetSeconds} s)`
      : `NOT DRAINED after ${r.drain.seconds} s: ${Object.entries(r.drain.left)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ')}`,
  );
  out('');
  const f = r.details.findings;
  const lists: [string, string[]][] = [
    ['invariant violations', f.invariantViolations],
    ['lost', f.lostOperations],
    ['applied twice', f.duplicatedOperations],
    ['SMS sent twice', f.duplicateSms],
    ['given back although paid', f.releasedInDoubt],
    ['settled although unpaid', f.settledUnpaid],
    ['offline order', f.offlineOrderViolations],
    ['PIN locked, always right', r.details.rightPinLockouts],
    ['held for an operator', f.heldForReview],
    ['left undrained', r.drain.leftDetails ?? []],
    ['USSD samples', r.details.ussd.samples],
    ['replay disagreements', r.details.replayDisagreements],
  ];
  for (const [title, list] of lists) {
    if (!list.length) continue;
    out(`  ${title}:`);
    for (const line of list.slice(0, 10)) out(`    - ${line}`);
    if (list.length > 10) out(`    … and ${list.length - 10} more (see the JSON report)`);
  }
  out(r.pass ? 'PASS' : `FAIL: ${r.failures.join('; ')}`);
  out(`replay with: ${r.replay}`);
}
