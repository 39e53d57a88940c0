import { join } from 'node:path';
import { pino } from 'pino';
import {
  AT_SIMULATOR_CREDENTIALS,
  ConfigValidationError,
  loadSimulatorsConfig,
  MPESA_DEVELOPMENT_DEFAULTS,
} from '../config/app-config.js';
import { startAfricasTalkingSmsSimulator } from './africastalking/africastalking-sms.simulator.js';
import { startDarajaSimulator } from './daraja/daraja-simulator.js';
import { simulatorsServer } from './shared-server.js';

/**
 * The simulators process (`npm run simulators`; `npm start` starts one alongside in development):
 * Daraja and Africa's Talking's SMS API on one port (SIMULATOR_PORT, 0 for a free one), apart from
 * Deni as the providers are, keeping their state under SIMULATOR_DATA_DIR across restarts. It
 * accepts only the built-in development credentials, and logs them with its address; it never
 * reads the SAFARICOM_* / MPESA_* / AT_* settings, so it can never print real ones.
 * Its start-up line (JSON, on stdout) carries `url`, for a parent process that waits for it.
 */

async function main(): Promise<void> {
  let config;
  try {
    config = loadSimulatorsConfig();
  } catch (e) {
    if (e instanceof ConfigValidationError) {
      pino({ base: { service: 'deni-simulators' } }).fatal(`Refusing to start. ${e.message}`);
      process.exit(78); // EX_CONFIG
    }
    throw e;
  }
  const log = pino({
    base: { service: 'deni-simulators' },
    timestamp: pino.stdTimeFunctions.isoTime,
    level: config.logLevel,
  });
  const server = simulatorsServer({ bodyLimit: 64 * 1024 });
  const daraja = await startDarajaSimulator({ server, stateFile: join(config.dataDir, 'daraja.json') });
  const sms = await startAfricasTalkingSmsSimulator({
    server,
    stateFile: join(config.dataDir, 'africastalking.json'),
    deliveryReportUrl: config.atDeliveryReportUrl,
    ...AT_SIMULATOR_CREDENTIALS,
  });
  await server.listen({ host: config.host, port: config.port });
  const url = daraja.url;
  log.info(
    {
      url,
      dataDir: config.dataDir,
      daraja: {
        consumerKey: MPESA_DEVELOPMENT_DEFAULTS.consumerKey,
        consumerSecret: MPESA_DEVELOPMENT_DEFAULTS.consumerSecret,
        passkey: MPESA_DEVELOPMENT_DEFAULTS.passkey,
        initiatorName: MPESA_DEVELOPMENT_DEFAULTS.initiatorName,
        initiatorPassword: MPESA_DEVELOPMENT_DEFAULTS.initiatorPassword,
        certificate: `${url}/simulator/certificate`,
      },
      africasTalking: AT_SIMULATOR_CREDENTIALS,
      // Whether reports are posted, not where: the URL carries Deni's delivery-report secret.
      deliveryReports: config.atDeliveryReportUrl ? 'on' : 'off (SIMULATOR_AT_DELIVERY_REPORT_URL unset)',
    },
    `Daraja and Africa's Talking simulators listening on ${url} (MPESA_BASE_URL=${url} AT_BASE_URL=${url}); development credentials only`,
  );

  let closing = false;
  const shutdown = (why: string) => {
    if (closing) return;
    closing = true;
    log.info(`${why}: stopping the simulators`);
    void Promise.all([daraja.close(), sms.close()])
      .then(() => server.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'error while stopping');
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  // Started by Deni (npm start): go when it goes, even if it was killed.
  process.once('disconnect', () => shutdown('Deni exited'));
}

void main();
