// Daraja's HTTP core, shared by every product (stk.ts, c2b.ts, b2c.ts, transaction-status.ts):
// the OAuth access token shared across instances, authenticated calls with timeouts and retries,
// answers turned into results or DarajaErrors, and Safaricom's certificate.
import { createHash, randomUUID, type KeyObject } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { requestNeverLeft } from '../../common/http-failures.js';
import type { RedisClient } from '../../redis/redis-connection.factory.js';
import {
  DARAJA_DUPLICATE_ORIGINATOR,
  DARAJA_INVALID_TOKEN,
  DarajaError,
  type DarajaOperation,
} from '../daraja.errors.js';
import type { DarajaClientOptions } from '../daraja.options.js';
import { publicKeyOf } from './credentials.js';
import { parseDarajaErrorBody, parseOAuthResponse } from './http.parsers.js';
import { DarajaPayloadError, type Json } from './payload.js';

/** An HTTP answer: its status and its body (JSON when it parses, the text otherwise). */
export interface Answer {
  status: number;
  body: unknown;
}

/** KEYS[1] key; ARGV[1] expected value. Deletes only what we set (a lock, or a token we saw refused). */
const DELETE_IF_EQUAL = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Calls that change nothing at Daraja: an unknown outcome of one does not matter. */
const QUERIES: ReadonlySet<DarajaOperation> = new Set(['oauth', 'stk_query', 'transaction_status']);

/**
 * One per DarajaClient. The access token lives in Redis because Daraja invalidates the previous
 * token whenever a new one is issued: every instance must use the same one, and only one instance
 * may ask for a new one at a time (a Redis lock; the others wait and read the result).
 */
export class DarajaHttp {
  // Logged under the client's name: to an operator there is one Daraja client.
  private readonly logger = new Logger('DarajaClient');
  private readonly retries: number;
  private readonly backoffMs: number;
  private refreshing?: Promise<string>;
  private certificate?: Promise<KeyObject>;
  private readonly baseUrl: string;

  constructor(
    private readonly redis: RedisClient,
    readonly options: DarajaClientOptions,
  ) {
    this.retries = options.retries ?? 2;
    this.backoffMs = options.retryBackoffMs ?? 200;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  // -------------------------------------------------------------------------------------------
  // Access token

  /** A valid access token: the shared one from Redis, or a new one (one OAuth call across instances). */
  async accessToken(): Promise<string> {
    try {
      const keys = this.tokenKeys();
      const cached = await this.redis.get(keys.token);
      if (cached) return cached;
      this.refreshing ??= this.refreshAcrossInstances(keys).finally(() => {
        this.refreshing = undefined;
      });
      return await this.refreshing;
    } catch (e) {
      if (e instanceof DarajaError) throw e;
      // Without the shared store, asking Daraja directly would invalidate every other instance's token.
      throw new DarajaError({
        operation: 'oauth',
        errorCode: 'TOKEN_STORE_UNAVAILABLE',
        errorMessage: `the shared token store (Redis) failed: ${(e as Error).message}`,
        retryable: true,
        cause: e,
      });
    }
  }

  /** Drops the shared token if it is still the one Daraja refused (another instance may have replaced it). */
  private async forgetToken(token: string): Promise<void> {
    const keys = this.tokenKeys();
    await this.redis.eval(DELETE_IF_EQUAL, 1, keys.token, token);
  }

  private async refreshAcrossInstances(keys: { token: string; lock: string }): Promise<string> {
    // Long enough for one OAuth call with its retries; a crashed holder's lock expires by itself.
    const lockMs = this.options.timeoutMs * (this.retries + 1) + this.backoffMs * 2 ** (this.retries + 1) + 1_000;
    const deadline = Date.now() + lockMs + 1_000;
    for (;;) {
      const owner = randomUUID();
      if ((await this.redis.set(keys.lock, owner, 'PX', lockMs, 'NX')) === 'OK') {
        try {
          // Another instance may have stored a token between our read and our lock.
          const stored = await this.redis.get(keys.token);
          if (stored) return stored;
          const { accessToken, expiresInSeconds } = await this.requestToken();
          await this.redis.set(keys.token, accessToken, 'PX', cacheMs(expiresInSeconds));
          this.logger.log(`Daraja access token refreshed (valid ${expiresInSeconds} s)`);
          return accessToken;
        } finally {
          await this.redis.eval(DELETE_IF_EQUAL, 1, keys.lock, owner).catch(() => undefined);
        }
      }
      // Someone else is asking Daraja: wait for their token, or for their lock to go (they failed).
      while (Date.now() < deadline) {
        await sleep(50);
        const [token, lock] = await Promise.all([this.redis.get(keys.token), this.redis.exists(keys.lock)]);
        if (token) return token;
        if (!lock) break;
      }
      if (Date.now() >= deadline) {
        throw new DarajaError({
          operation: 'oauth',
          errorCode: 'TOKEN_WAIT_TIMEOUT',
          errorMessage: 'timed out waiting for another instance to refresh the access token',
          retryable: true,
        });
      }
    }
  }

  private async requestToken() {
    const basic = Buffer.from(`${this.options.consumerKey}:${this.options.consumerSecret}`, 'utf8').toString('base64');
    const answer = await this.exchange(
      'oauth',
      'GET',
      '/oauth/v1/generate?grant_type=client_credentials',
      { authorization: `Basic ${basic}` },
      undefined,
      true,
    );
    return this.parseOk('oauth', answer, parseOAuthResponse);
  }

  private tokenKeys() {
    // Per Daraja endpoint and app: a sandbox token must never be offered to production, nor one
    // simulator's token to another.
    const id = createHash('sha256').update(`${this.baseUrl}\n${this.options.consumerKey}`).digest('hex').slice(0, 16);
    return { token: `mpesa:token:${id}`, lock: `mpesa:token:${id}:lock` };
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  /** An authenticated call; a refused token is replaced once and the call sent again. */
  async call(operation: DarajaOperation, path: string, body: Json, idempotent: boolean): Promise<Answer> {
    let token = await this.accessToken();
    let answer = await this.exchange(operation, 'POST', path, { authorization: `Bearer ${token}` }, body, idempotent);
    if (tokenRefused(answer)) {
      // Refused at the gateway, before any processing: sending again is safe even for STK push.
      await this.forgetToken(token).catch(() => undefined);
      token = await this.accessToken();
      answer = await this.exchange(operation, 'POST', path, { authorization: `Bearer ${token}` }, body, idempotent);
    }
    return answer;
  }

  /** One HTTP exchange with a timeout; idempotent ones retried on network failures and 502/503/504. */
  private async exchange(
    operation: DarajaOperation,
    method: 'GET' | 'POST',
    path: string,
    headers: Record<string, string>,
    body: Json | undefined,
    idempotent: boolean,
  ): Promise<Answer> {
    const target = `${this.baseUrl}${path}`;
    const attempts = idempotent ? this.retries + 1 : 1;
    for (let attempt = 1; ; attempt += 1) {
      let failure: DarajaError;
      try {
        const response = await fetch(target, {
          method,
          headers: { accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
          body: body ? JSON.stringify(body) : undefined,
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
        const text = await response.text();
        if (![502, 503, 504].includes(response.status) || attempt >= attempts) {
          return { status: response.status, body: parseJson(text) };
        }
        failure = new DarajaError({
          operation,
          status: response.status,
          errorMessage: `HTTP ${response.status}`,
          retryable: true,
          outcomeUnknown: true,
        });
      } catch (e) {
        failure = networkFailure(operation, e, this.options.timeoutMs);
        if (attempt >= attempts) throw failure;
      }
      const delay = this.backoffMs * 2 ** (attempt - 1);
      this.logger.warn(
        `Daraja ${operation} attempt ${attempt} failed (${failure.errorCode ?? failure.status}); retrying in ${delay} ms`,
      );
      await sleep(delay);
    }
  }

  /** The body of a 2xx answer, parsed; anything else becomes a DarajaError. */
  parseOk<T>(operation: DarajaOperation, answer: Answer, parse: (body: unknown) => T): T {
    if (answer.status < 200 || answer.status >= 300) throw answerError(operation, answer);
    try {
      return parse(answer.body);
    } catch (e) {
      if (!(e instanceof DarajaPayloadError)) throw e;
      throw new DarajaError({
        operation,
        status: answer.status,
        errorCode: 'BAD_RESPONSE',
        errorMessage: `unexpected answer: ${e.message}`,
        retryable: false,
        // Daraja said 2xx: it may well have accepted the request (queries change nothing).
        outcomeUnknown: !QUERIES.has(operation),
        cause: e,
      });
    }
  }

  /** ResponseCode "0" is acceptance; Daraja has answered 200 with other codes. */
  accepted<T extends { responseCode: string; responseDescription: string }>(
    operation: DarajaOperation,
    response: T,
  ): T {
    if (response.responseCode === '0') return response;
    throw new DarajaError({
      operation,
      status: 200,
      errorCode: response.responseCode,
      errorMessage: response.responseDescription || 'request not accepted',
      retryable: false,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Certificate (SecurityCredential) and clock

  /** The public key of Safaricom's certificate, loaded once (a failed load is tried again next time). */
  certificateKey(): Promise<KeyObject> {
    this.certificate ??= this.loadCertificate().catch((e: unknown) => {
      this.certificate = undefined;
      throw e;
    });
    return this.certificate;
  }

  private async loadCertificate(): Promise<KeyObject> {
    try {
      if (this.options.certificatePem) return publicKeyOf(this.options.certificatePem);
      if (!this.options.simulatorCertificate) {
        throw new Error("no certificate configured: set MPESA_CERT_PATH to Safaricom's certificate");
      }
      const response = await fetch(`${this.baseUrl}/simulator/certificate`, {
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      if (!response.ok)
        throw new Error(`the simulator's certificate is not available (HTTP ${response.status}); set MPESA_CERT_PATH`);
      return publicKeyOf(await response.text());
    } catch (e) {
      if (e instanceof DarajaError) throw e;
      throw new DarajaError({
        operation: 'certificate',
        errorCode: 'NO_CERTIFICATE',
        errorMessage: (e as Error).message,
        retryable: false,
        cause: e,
      });
    }
  }

  now(): Date {
    return this.options.now?.() ?? new Date();
  }
}

// ---------------------------------------------------------------------------------------------

/** Cache a token until shortly before Daraja's expiry (a tenth of its life, at most a minute). */
function cacheMs(expiresInSeconds: number): number {
  const lifeMs = expiresInSeconds * 1_000;
  return Math.max(1_000, lifeMs - Math.min(60_000, Math.floor(lifeMs / 10)));
}

function tokenRefused(answer: Answer): boolean {
  return (
    answer.status === 401 ||
    (answer.status >= 400 && parseDarajaErrorBody(answer.body)?.errorCode === DARAJA_INVALID_TOKEN)
  );
}

function answerError(operation: DarajaOperation, answer: Answer): DarajaError {
  const error = parseDarajaErrorBody(answer.body);
  const status = answer.status;
  return new DarajaError({
    operation,
    status,
    errorCode: error?.errorCode,
    errorMessage: error?.errorMessage ?? `HTTP ${status}`,
    requestId: error?.requestId,
    // Sending the same B2C again cannot succeed: Daraja has it already.
    retryable: (status === 429 || status >= 500) && error?.errorCode !== DARAJA_DUPLICATE_ORIGINATOR,
    // Daraja answered, so it knows what it did; a 5xx without Daraja's envelope may be a proxy's.
    outcomeUnknown: status >= 500 && !error && !QUERIES.has(operation),
  });
}

function networkFailure(operation: DarajaOperation, e: unknown, timeoutMs: number): DarajaError {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError' || err?.name === 'AbortError') {
    return new DarajaError({
      operation,
      errorCode: 'TIMEOUT',
      errorMessage: `no answer within ${timeoutMs} ms`,
      retryable: true,
      outcomeUnknown: true,
      cause: e,
    });
  }
  const code = err?.cause?.code;
  return new DarajaError({
    operation,
    errorCode: 'NETWORK',
    errorMessage: `network failure: ${code ?? err?.cause?.message ?? err?.message ?? 'unknown'}`,
    retryable: true,
    outcomeUnknown: !requestNeverLeft(code),
    cause: e,
  });
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
