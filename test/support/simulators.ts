import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessTracker, waitUntil, type Spawned } from './processes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

export interface RunningSimulators {
  url: string;
  port: number;
  process: Spawned;
}

/**
 * The simulators process as `npm run simulators` starts it (tsx src/simulators/main.ts), with its
 * state in `dataDir`, on `port` (default 0: a free one), with `env` added to its environment.
 * Resolves once it has logged its address.
 */
export async function startSimulatorsProcess(
  tracker: ProcessTracker,
  dataDir: string,
  port = 0,
  env: Record<string, string> = {},
): Promise<RunningSimulators> {
  const spawned = tracker.spawn(TSX, ['src/simulators/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'development',
      SIMULATOR_PORT: String(port),
      SIMULATOR_DATA_DIR: dataDir,
      ...env,
    },
  });
  const url = await waitUntil(
    () => {
      if (spawned.child.exitCode !== null) throw new Error(`simulators exited: ${spawned.output.stderr}`);
      return Promise.resolve(/"url":"(http:\/\/[^"]+)"/.exec(spawned.output.stdout)?.[1]);
    },
    30_000,
    'the simulators process logs its address',
  );
  return { url, port: Number(new URL(url).port), process: spawned };
}
