import { spawn } from 'node:child_process';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppConfig } from '../config/app-config.js';
import { LocalServiceError, portAnswers, type ProvisionLog } from './local-services.js';

/**
 * Development convenience (`npm start`): Deni with no MPESA_BASE_URL talks to the simulators
 * process on 127.0.0.1:SIMULATOR_PORT. When one already answers there (`npm run simulators`, or
 * another Deni process started it) it is used; otherwise one is started as a child, which Deni
 * stops on shutdown and which exits by itself if Deni dies. The simulators are spawned, never
 * imported: their code stays out of Deni's module graph.
 */
export interface SimulatorsAlongside {
  url: string;
  /** False when another process's simulators were already answering. */
  started: boolean;
  stop(): Promise<void>;
}

/** src/simulators/main.ts under tsx, dist/simulators/main.js after `nest build`. */
const here = fileURLToPath(import.meta.url);
const ENTRY = join(dirname(here), '..', 'simulators', `main${extname(here)}`);

/** `inherited`: the environment the child starts from (the caller's own: PATH and the like). */
export async function ensureSimulators(
  config: AppConfig,
  log: ProvisionLog,
  inherited: NodeJS.ProcessEnv,
): Promise<SimulatorsAlongside> {
  const { port, dataDir, atDeliveryReportUrl } = config.simulators;
  if (port !== 0 && (await portAnswers('127.0.0.1', port))) {
    log.info(`using the simulators already answering on 127.0.0.1:${port}`);
    const url = `http://127.0.0.1:${port}`;
    // Africa's Talking's delivery reports come to this Deni from now on (AT's dashboard setting).
    const registered = await fetch(`${url}/simulator/sms/delivery-report-url`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: atDeliveryReportUrl }),
      signal: AbortSignal.timeout(5_000),
    }).catch(() => undefined);
    if (!registered?.ok) log.info('the simulators did not take the delivery-report URL: no SMS delivery reports');
    return { url, started: false, stop: () => Promise.resolve() };
  }
  // The same node and loader flags (tsx's, under `tsx src/main.ts`) as this process.
  const child = spawn(process.execPath, [...process.execArgv, ENTRY], {
    env: {
      ...inherited,
      SIMULATOR_HOST: '127.0.0.1',
      SIMULATOR_PORT: String(port),
      SIMULATOR_DATA_DIR: dataDir,
      SIMULATOR_AT_DELIVERY_REPORT_URL: atDeliveryReportUrl,
    },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      // Its log lines go on to Deni's stdout.
      process.stdout.write(chunk);
      output += chunk;
      const found = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (found) resolve(found[1]);
    });
    child.once('exit', (code) =>
      reject(new LocalServiceError(`the simulators process exited (${code}) before listening`)),
    );
    child.once('error', (e) => reject(new LocalServiceError(`cannot start the simulators: ${e.message}`)));
  });
  log.info(`started the Daraja and Africa's Talking simulators on ${url} (state in ${dataDir})`);
  return {
    url,
    started: true,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
