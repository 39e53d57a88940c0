/**
 * Connection errors (Node's and undici's codes) that mean the request never left: the connection
 * was refused, the name did not resolve, or no route or connection was ever made. Any other failure
 * of an HTTP call (a timeout, a connection reset or closed after the request was written) leaves
 * open whether the other side received it and acted on it.
 */
const NEVER_LEFT: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** Whether a failed fetch with this error code (`err.cause.code`) certainly sent nothing. */
export function requestNeverLeft(code: string | undefined): boolean {
  return code !== undefined && NEVER_LEFT.has(code);
}
