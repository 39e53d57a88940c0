/**
 * Paths pino removes from every log line. PINs, one-time codes and secrets must never be
 * written anywhere; a test captures real log output and looks for them.
 */
const SENSITIVE_KEYS = [
  'pin',
  'newPin',
  'oldPin',
  'currentPin',
  'confirmPin',
  'otp',
  'password',
  'secret',
  'token',
  'accessToken',
  'pinHash',
  'pin_hash',
  'apiKey',
  'apikey', // Africa's Talking's header, as Node names it
  'AT_API_KEY',
  'AT_DELIVERY_REPORT_SECRET',
  'SIMULATOR_AT_DELIVERY_REPORT_URL',
  'deliveryReportUrl', // carries AT_DELIVERY_REPORT_SECRET in its query string
  'passkey',
  'SecurityCredential',
  'Password',
  // M-PESA: credentials, and callback URLs (their path carries MPESA_CALLBACK_SECRET).
  'access_token',
  'consumerSecret',
  'initiatorPassword',
  'callbackSecret',
  'privateKey',
  'SAFARICOM_CONSUMER_SECRET',
  'MPESA_PASSKEY',
  'MPESA_INITIATOR_PASSWORD',
  'MPESA_CALLBACK_SECRET',
  'CallBackURL',
  'ResultURL',
  'QueueTimeOutURL',
  'ConfirmationURL',
  'ValidationURL',
  'callbackUrl',
  'resultUrl',
  'queueTimeoutUrl',
  'confirmationUrl',
  'validationUrl',
];

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'req.headers["x-ussd-secret"]',
  'res.headers["set-cookie"]',
  ...SENSITIVE_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
];

/** Query strings can carry secrets (callback URLs with a token); keep only the path. */
export function pathOnly(url: string | undefined): string {
  if (!url) return '';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * The URL to log for a request: its path, or its route pattern when the route has a secret in
 * the path (the M-PESA callbacks' `:secret` segment), so the secret never reaches a log.
 */
export function loggableUrl(url: string | undefined, route: string | undefined): string {
  return route?.includes(':secret') ? route : pathOnly(url);
}
