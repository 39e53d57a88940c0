import { AT_SIMULATOR_CREDENTIALS, MPESA_DEVELOPMENT_DEFAULTS } from './simulator-credentials.js';

/**
 * DENI_DEMO: the demo stack (docker-compose.yml's `demo` profile, demo.env), in which a production
 * Deni talks to the simulators service instead of Safaricom and Africa's Talking. It replaces
 * production's M-PESA requirements (https, Safaricom's certificate and callback addresses) with
 * these, which hold only for the simulators: so the switch cannot send a request, or a real
 * credential, to a live provider.
 */

/** The demo's simulators service, by its compose hostname. */
export const DEMO_SIMULATORS_HOST = 'simulators';

/** The only credentials the demo accepts: the simulator's public development ones (or none: the same). */
export const DEMO_CREDENTIALS = {
  SAFARICOM_CONSUMER_KEY: MPESA_DEVELOPMENT_DEFAULTS.consumerKey,
  SAFARICOM_CONSUMER_SECRET: MPESA_DEVELOPMENT_DEFAULTS.consumerSecret,
  MPESA_PASSKEY: MPESA_DEVELOPMENT_DEFAULTS.passkey,
  MPESA_INITIATOR_NAME: MPESA_DEVELOPMENT_DEFAULTS.initiatorName,
  MPESA_INITIATOR_PASSWORD: MPESA_DEVELOPMENT_DEFAULTS.initiatorPassword,
  AT_USERNAME: AT_SIMULATOR_CREDENTIALS.username,
  AT_API_KEY: AT_SIMULATOR_CREDENTIALS.apiKey,
} as const;

export type DemoInput = Partial<
  Record<
    keyof typeof DEMO_CREDENTIALS | 'MPESA_BASE_URL' | 'AT_BASE_URL' | 'MPESA_CERT_PATH' | 'MPESA_CALLBACK_BASE_URL',
    string
  >
> & { SMS_PROVIDER?: string };

export interface DemoProblem {
  variable: string;
  message: string;
}

/** Why this environment may not run as the demo ([] when it may). Never quotes a value. */
export function demoProblems(env: DemoInput): DemoProblem[] {
  const problems: DemoProblem[] = [];
  const simulators = `http://${DEMO_SIMULATORS_HOST}:<port>, the demo's simulators service`;
  const simulatorsUrl = (variable: 'MPESA_BASE_URL' | 'AT_BASE_URL') => {
    const url = env[variable];
    if (!url) {
      problems.push({ variable, message: `required when DENI_DEMO=true: ${simulators}` });
      return;
    }
    const parsed = URL.parse(url);
    if (parsed?.protocol !== 'http:' || parsed.hostname !== DEMO_SIMULATORS_HOST) {
      problems.push({ variable, message: `must be ${simulators}, when DENI_DEMO=true` });
    }
  };
  simulatorsUrl('MPESA_BASE_URL');
  // Unset, AT_BASE_URL is Africa's Talking itself: the demo must name the simulators to send SMS.
  if (env.SMS_PROVIDER === 'africastalking' || env.AT_BASE_URL) simulatorsUrl('AT_BASE_URL');
  for (const [variable, value] of Object.entries(DEMO_CREDENTIALS)) {
    const given = env[variable as keyof typeof DEMO_CREDENTIALS];
    if (given !== undefined && given !== value) {
      problems.push({
        variable,
        message: "must be the simulator's development value or unset when DENI_DEMO=true (no real credentials)",
      });
    }
  }
  if (env.MPESA_CERT_PATH) {
    problems.push({
      variable: 'MPESA_CERT_PATH',
      message: "must be unset when DENI_DEMO=true: the simulator's certificate is used",
    });
  }
  if (!env.MPESA_CALLBACK_BASE_URL) {
    problems.push({
      variable: 'MPESA_CALLBACK_BASE_URL',
      message: 'required when DENI_DEMO=true: where the simulators call Deni back, e.g. http://api:5000',
    });
  }
  return problems;
}
