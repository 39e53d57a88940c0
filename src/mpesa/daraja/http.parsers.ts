// The answers of the HTTP core (http.ts): the OAuth token, and the error envelope any call may get.
import { describeValue, isObject, object, requiredId, DarajaPayloadError } from './payload.js';

export interface OAuthResponse {
  accessToken: string;
  /** `expires_in`, a number in the docs and a string in some live answers. */
  expiresInSeconds: number;
}

/** Daraja's error envelope `{requestId, errorCode, errorMessage}`; null when the body is not one. */
export interface DarajaErrorBody {
  requestId?: string;
  errorCode?: string;
  errorMessage?: string;
}

export function parseOAuthResponse(body: unknown): OAuthResponse {
  const root = object(body, '(body)');
  const accessToken = requiredId(root, 'access_token', '');
  const raw = root.expires_in;
  const seconds =
    typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d{1,9}\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new DarajaPayloadError(`expected a positive number of seconds, got ${describeValue(raw)}`, 'expires_in');
  }
  return { accessToken, expiresInSeconds: seconds };
}

/** Daraja's `{requestId, errorCode, errorMessage}`, or null when the body is something else. */
export function parseDarajaErrorBody(body: unknown): DarajaErrorBody | null {
  if (!isObject(body)) return null;
  const pick = (key: string) =>
    typeof body[key] === 'string' || typeof body[key] === 'number' ? String(body[key]) : undefined;
  const found: DarajaErrorBody = {
    requestId: pick('requestId'),
    errorCode: pick('errorCode'),
    errorMessage: pick('errorMessage'),
  };
  return found.errorCode !== undefined || found.errorMessage !== undefined ? found : null;
}
