import 'reflect-metadata';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { createApp } from './app.factory.js';
import { listeningLine } from './http-address.js';
import { ConfigValidationError, loadConfig, requireMpesaBaseUrl } from './config/app-config.js';
import { ensureLocalServices, LocalServiceError } from './local-services/local-services.js';
import { ensureSimulators } from './local-services/simulators-process.js';
import { createRootLogger } from './logging/logger.js';
import { DrainingService } from './health/draining.service.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
    requireMpesaBaseUrl(config.mpesa);
  } catch (e) {
    if (e instanceof ConfigValidationError) {
      // No configuration, so no configured logger: the same JSON line shape by hand.
      pino({ base: { service: 'deni' }, timestamp: pino.stdTimeFunctions.isoTime }).fatal(
        `Refusing to start. ${e.message}`,
      );
      process.exit(78); // EX_CONFIG
    }
    throw e;
  }
  const root = createRootLogger(config);
  const boot = root.child({ context: 'Boot' });
  if (config.demo) {
    boot.warn(
      `DENI_DEMO=true: a demo, not a service. M-PESA (${config.mpesa.baseUrl}) and SMS (${config.sms.africasTalking.baseUrl}, when SMS_PROVIDER=africastalking) are the simulators, with their development credentials: no money moves, no SMS is sent.`,
    );
  }

  const services = config.localServices.enabled
    ? await ensureLocalServices(config, { info: (m) => boot.info(m), warn: (m) => boot.warn(m) }).catch((e) => {
        if (e instanceof LocalServiceError) {
          boot.fatal(e.message);
          process.exit(69); // EX_UNAVAILABLE
        }
        throw e;
      })
    : undefined;

  // Development with no MPESA_BASE_URL: the simulators process, as Daraja would be (docs/simulator.md).
  const simulators = config.simulators.alongside
    ? await ensureSimulators(config, { info: (m) => boot.info(m), warn: (m) => boot.warn(m) }, process.env).catch(
        (e) => {
          if (e instanceof LocalServiceError) {
            boot.fatal(e.message);
            process.exit(69); // EX_UNAVAILABLE
          }
          throw e;
        },
      )
    : undefined;
  if (simulators && simulators.url !== config.mpesa.baseUrl) {
    // SIMULATOR_PORT=0: only now is the port known.
    const atDefault = config.sms.africasTalking.baseUrl === config.mpesa.baseUrl;
    config = {
      ...config,
      mpesa: { ...config.mpesa, baseUrl: simulators.url },
      sms: atDefault
        ? { ...config.sms, africasTalking: { ...config.sms.africasTalking, baseUrl: simulators.url } }
        : config.sms,
    };
  }

  const app = await createApp(config, { logger: root });
  await app.listen({ port: config.http.port, host: config.http.host });
  boot.info(`Deni (${config.role}) listening on ${listeningLine(app)} · docs /docs · health /health/ready`);

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    const timer = setTimeout(() => {
      boot.error(`shutdown took longer than ${config.http.shutdownTimeoutMs} ms; exiting`);
      process.exit(1);
    }, config.http.shutdownTimeoutMs);
    timer.unref();
    // Balancers first: readiness fails and each response closes its connection while the server
    // still accepts, for SHUTDOWN_DRAIN_DELAY_MS; a worker has no traffic to move elsewhere.
    app.get(DrainingService).begin();
    const drainMs = config.role === 'worker' ? 0 : config.http.shutdownDrainDelayMs;
    boot.info(
      drainMs > 0
        ? `${signal}: not ready; serving ${drainMs} ms more for load balancers, then finishing in-flight requests and jobs`
        : `${signal}: finishing in-flight requests and jobs`,
    );
    sleep(drainMs)
      // Stops accepting, answers the requests under way, then lets running jobs finish.
      .then(() => app.close())
      // Local servers we started go down after the application has drained.
      .then(() => simulators?.stop())
      .then(() => services?.stop())
      .then(() => {
        if (services?.started.length) boot.info(`stopped ${services.started.map((x) => x.name).join(' and ')}`);
        boot.info(`${signal}: done`);
        process.exit(0);
      })
      .catch((err) => {
        boot.error({ err }, 'error during shutdown');
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

void main();
