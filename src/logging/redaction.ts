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
  'passkey',
  'SecurityCredential',
  'Password',
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
