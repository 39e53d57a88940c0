import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AT_SIMULATOR_CREDENTIALS } from '../../src/config/simulator-credentials.js';
import {
  startAfricasTalkingSmsSimulator,
  type AfricasTalkingSmsSimulator,
  type AfricasTalkingSmsSimulatorOptions,
} from '../../src/simulators/africastalking/africastalking-sms.simulator.js';
import {
  startDarajaSimulator,
  type DarajaSimulator,
  type DarajaSimulatorOptions,
} from '../../src/simulators/daraja/daraja-simulator.js';
import { simulatorsServer } from '../../src/simulators/shared-server.js';
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

export interface TestSimulators {
  /** Base URL of both: MPESA_BASE_URL and AT_BASE_URL. */
  url: string;
  daraja: DarajaSimulator;
  sms: AfricasTalkingSmsSimulator;
  close(): Promise<void>;
}

/**
 * The simulators as the simulators process serves them (Daraja and Africa's Talking on one
 * server, src/simulators/main.ts), started in this test process on a free loopback port: a server
 * of their own that Deni reaches over HTTP as it would the providers, never part of Deni's app.
 * Credentials default to the development ones, as the simulators process accepts.
 */
export async function startTestSimulators(
  options: { daraja?: DarajaSimulatorOptions; sms?: AfricasTalkingSmsSimulatorOptions } = {},
): Promise<TestSimulators> {
  const server = simulatorsServer({ bodyLimit: 64 * 1024 });
  const daraja = await startDarajaSimulator({ ...options.daraja, server });
  const sms = await startAfricasTalkingSmsSimulator({ ...AT_SIMULATOR_CREDENTIALS, ...options.sms, server });
  await server.listen({ host: '127.0.0.1', port: 0 });
  let closed: Promise<void> | undefined;
  return {
    url: daraja.url,
    daraja,
    sms,
    close: () =>
      (closed ??= Promise.all([daraja.close(), sms.close()]).then(async () => {
        await server.close();
      })),
  };
}
