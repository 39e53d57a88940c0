/**
 * The bench's processes (the service's instances, the ceiling, the peer) and what it reads about
 * them from /proc: CPU time and resident memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

export function log(message: string) {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Every process started and not yet exited, for the cleanup. */
export const children = new Set<ChildProcess>();
const stopping = new Set<ChildProcess>();

export function start(
  name: string,
  command: string,
  argv: string[],
  env: Record<string, string>,
  cwd: string,
): ChildProcess {
  const child = spawn(command, argv, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

/** Waits for a line `ready [port]` on the child's stdout; gives the port when one is printed. */
export function readyLine(child: ChildProcess, name: string): Promise<number | null> {
  return new Promise<number | null>((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /^ready(?: (\d+))?$/m.exec(seen);
      if (m) resolve(m[1] ? Number(m[1]) : null);
    });
    child.once('exit', () => reject(new Error(`${name} did not start`)));
  });
}

export async function stop(child: ChildProcess | undefined, waitMs = 15_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  stopping.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), waitMs);
  await exited;
  clearTimeout(timer);
}

export async function waitFor(url: string, timeoutMs: number, child: ChildProcess): Promise<void> {
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

export function readStatus(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) a process has used so far, in ms. */
export function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in ticks of 1/100 s
  } catch {
    return 0;
  }
}

/**
 * The peak RSS of each process during `work`: VmHWM reset before (clear_refs 5), and VmRSS
 * sampled. The largest of them is `peakMb` (the budget is per process).
 */
export async function peakRss<T>(pids: number[], work: () => Promise<T>): Promise<{ result: T; peakMb: number }> {
  for (const pid of pids) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      // not allowed: VmHWM is then the peak since start
    }
  }
  const sampled = pids.map(() => 0);
  const timer = setInterval(
    () => pids.forEach((pid, i) => (sampled[i] = Math.max(sampled[i], readStatus(pid, 'VmRSS')))),
    200,
  );
  try {
    const result = await work();
    return { result, peakMb: Math.max(0, ...pids.map((pid, i) => Math.max(sampled[i], readStatus(pid, 'VmHWM')))) };
  } finally {
    clearInterval(timer);
  }
}
