import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';

/**
 * Helpers for tests that start their own servers. Everything started here is tracked so that an
 * afterAll can stop it even when the test failed half-way.
 */

const execFileAsync = promisify(execFile);

/**
 * A TCP port free on 127.0.0.1 right now, for a server a test starts later on that port.
 * Taken below Linux's ephemeral range (32768–60999): a port the kernel hands out for port 0 is
 * also what it hands to the next outgoing connection (the tests open many, to PostgreSQL and
 * Redis), which could take it before the server listens (EADDRINUSE).
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 50; tries += 1) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  throw new Error('no free port found between 20000 and 32000');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function waitUntil<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: string | undefined;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (e) {
      lastError = String(e);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${lastError !== undefined ? ` (last error: ${lastError})` : ''}`);
}

/** `redis-cli -p <port> …args`, its stdout trimmed. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
    timeout: 5000,
  });
  return stdout.trim();
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Spawned {
  child: ChildProcess;
  /** Resolves when the process has exited (at once if it already has). */
  exited: Promise<Exit>;
  readonly output: { stdout: string; stderr: string };
}

/** A set of processes a test started, to be stopped in afterAll whatever happened. */
export class ProcessTracker {
  private readonly spawned = new Set<Spawned>();

  /**
   * Spawns in a process group of its own (detached), so that `killAll` also reaches whatever
   * the process started itself (tsx's inner node, the servers it spawns).
   */
  spawn(command: string, args: string[], options: SpawnOptions = {}): Spawned {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...options });
    const output = { stdout: '', stderr: '' };
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output.stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output.stderr += chunk));
    const exited = new Promise<Exit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: null, signal: null }));
    });
    const entry: Spawned = { child, exited, output };
    this.spawned.add(entry);
    void exited.then(() => this.spawned.delete(entry));
    return entry;
  }

  /** SIGTERM to the process itself; SIGKILL to its whole group if it has not exited in time. */
  async stop(entry: Spawned, timeoutMs = 15_000): Promise<Exit> {
    if (entry.child.exitCode === null && entry.child.signalCode === null) entry.child.kill('SIGTERM');
    const exit = await Promise.race([
      entry.exited,
      new Promise<null>((r) => setTimeout(() => r(null), timeoutMs).unref()),
    ]);
    if (exit) return exit;
    killGroup(entry.child, 'SIGKILL');
    return entry.exited;
  }

  /** Stops everything still running: SIGTERM to each group, then SIGKILL to the stragglers. */
  async killAll(timeoutMs = 5000): Promise<void> {
    const running = [...this.spawned];
    for (const entry of running) killGroup(entry.child, 'SIGTERM');
    await Promise.race([
      Promise.all(running.map((e) => e.exited)),
      new Promise((r) => setTimeout(r, timeoutMs).unref()),
    ]);
    for (const entry of running) killGroup(entry.child, 'SIGKILL');
    await Promise.all(running.map((e) => e.exited));
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is gone already
  }
}
