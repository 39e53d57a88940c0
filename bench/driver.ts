/**
 * Runs a journey over many connections with autocannon and measures it.
 *
 * Each connection talks to one port. With one port, a connection takes its subscriber through a
 * whole journey, then starts the next. With several (instances of the service), every step of a
 * journey goes to the next port after the previous step's: a connection that got a step's reply
 * hands the journey on to the connections of the next instance, and takes a journey waiting for
 * its own, or else starts one. Should one instance answer faster than another, its connections
 * would start journey after journey while the slower one's wait in line; past twice as many
 * journeys as connections, they take over a journey waiting for another instance instead (its
 * step then goes to the same instance as the one before, counted in `sameInstanceSteps`).
 */
import autocannon from 'autocannon';
import type { Ctx, Journey } from './journeys.js';

export interface Measured {
  steps: number;
  journeys: number;
  seconds: number;
  latencies: number[];
  errors: { non2xx: number; wrongScreen: number; transport: number; timeouts: number };
  samples: string[];
  /** Journeys completed, by kind (approval journeys and single deposits in the mixed scenario). */
  byKind: Record<string, number>;
  /** Steps sent to the same instance as their journey's step before (several instances only). */
  sameInstanceSteps: number;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** A journey under way: its subscriber, its next step, and the instance that step goes to. */
interface Run {
  ctx: Ctx;
  step: number;
  ok: boolean;
  at: number;
  /** The instance of the step before (-1: none yet). */
  last: number;
}

/** Journey numbers run on across scenarios: each journey has its own session id, receipt, newcomer. */
let journeyCounter = 0;

/** Runs `journey` over `connections` connections for `seconds` against `ports` (one or more instances). */
export function drive(ports: number[], journey: Journey, seconds: number, connections: number): Promise<Measured> {
  const m: Measured = {
    steps: 0,
    journeys: 0,
    seconds,
    latencies: [],
    errors: { non2xx: 0, wrongScreen: 0, transport: 0, timeouts: 0 },
    samples: [],
    byKind: {},
    sameInstanceSteps: 0,
  };
  const waiting: Run[][] = ports.map(() => []);
  /** Journeys begun and not finished: on a connection or waiting for one. */
  let underway = 0;
  const sample = (line: string) => {
    if (m.samples.length < 5) m.samples.push(line);
  };
  const request = {
    setupRequest: (req: Record<string, unknown>, context: Record<string, unknown>) => {
      const at = ports.indexOf(Number(req.port));
      if (at < 0) throw new Error(`a connection to port ${String(req.port)}, none of ${ports.join(', ')}`);
      let run = waiting[at].shift();
      if (!run && ports.length > 1 && underway >= 2 * connections) {
        const longest = waiting.reduce((a, b) => (b.length > a.length ? b : a));
        run = longest.shift();
        if (run) run.at = at;
      }
      if (!run) {
        run = { ctx: journey.begin(journeyCounter++), step: 0, ok: true, at, last: -1 };
        underway += 1;
      }
      if (ports.length > 1 && run.last === at) m.sameInstanceSteps += 1;
      context.run = run;
      return { ...req, ...journey.step(run.step, run.ctx).request(run.ctx) };
    },
    onResponse: (status: number, body: string, context: Record<string, unknown>) => {
      const run = context.run as Run;
      const step = journey.step(run.step, run.ctx);
      if (status < 200 || status > 299) {
        run.ok = false;
        sample(`step ${run.step}: HTTP ${status} ${String(body).slice(0, 160)}`);
      } else if (!String(body).includes(step.expect)) {
        run.ok = false;
        m.errors.wrongScreen += 1;
        sample(
          `step ${run.step}: expected ${JSON.stringify(step.expect)}, got ${JSON.stringify(String(body).slice(0, 160))}`,
        );
      } else {
        step.after?.(run.ctx, String(body));
      }
      run.step += 1;
      if (run.step < journey.steps) {
        run.last = run.at;
        run.at = (run.at + 1) % ports.length;
        // Taken by the next request of a connection to that instance (this one, with one port).
        waiting[run.at].push(run);
        return;
      }
      underway -= 1;
      if (run.ok) {
        const done = run.ctx.kind === 'deposit' ? journey.steps : 1;
        m.journeys += done;
        const kind = run.ctx.kind ?? 'journey';
        m.byKind[kind] = (m.byKind[kind] ?? 0) + done;
      }
      journey.end?.(run.ctx, run.ok);
    },
  };
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        // autocannon spreads connections over several URLs (connection i: URL i mod n); its
        // typings know one.
        url: ports.map((port) => `http://127.0.0.1:${port}`) as unknown as string,
        connections,
        duration: seconds,
        timeout: 10,
        requests: [request] as unknown as autocannon.Request[],
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
