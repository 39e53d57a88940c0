// Size: over 400 lines. The Daraja HTTP client: OAuth token sharing, retries, every request Deni
// sends. Splitting it by flow, behind the same tests, is the restructuring issue ("A house to live
// in"), kept out of feature changes.
import { createHash, randomUUID, type KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectRedis } from '../redis/redis.tokens.js';
import type { RedisClient } from '../redis/redis-connection.factory.js';
import {
  DARAJA_DUPLICATE_ORIGINATOR,
  DARAJA_INVALID_TOKEN,
  DARAJA_STILL_PROCESSING,
  DarajaError,
  INVALID_REQUEST,
  type DarajaOperation,
} from './daraja.errors.js';
import {
  DarajaPayloadError,
  nairobiTimestamp,
  parseB2cResponse,
  parseC2bRegisterResponse,
  parseDarajaErrorBody,
  parseOAuthResponse,
  parseStkPushResponse,
  parseStkQueryResponse,
  parseTransactionStatusResponse,
  publicKeyOf,
  securityCredential,
  stkPassword,
  type B2cResponse,
  type C2bRegisterResponse,
  type StkPushResponse,
  type StkQueryResponse,
  type TransactionStatusResponse,
} from './daraja.parsers.js';

export const DARAJA_OPTIONS = Symbol('DARAJA_OPTIONS');

export type StkTransactionType = 'CustomerPayBillOnline' | 'CustomerBuyGoodsOnline';
export type B2cCommandId = 'BusinessPayment' | 'SalaryPayment' | 'PromotionPayment';

/** What DarajaClient needs; MpesaModule builds it from AppConfig.mpesa (darajaClientOptions). */
export interface DarajaClientOptions {
  /** Daraja's base URL: Safaricom's, or a Daraja simulator's (its own process, never Deni's). */
  baseUrl: string;
  consumerKey: string;
  consumerSecret: string;
  shortcode: string;
  passkey: string;
  transactionType: StkTransactionType;
  b2cShortcode: string;
  initiatorName: string;
  initiatorPassword: string;
  /** Safaricom's certificate (PEM). Undefined: fetched from the simulator over HTTP when allowed below. */
  certificatePem?: string;
  /** Read the certificate from `<baseUrl>/simulator/certificate` (never in production, but in the demo). */
  simulatorCertificate: boolean;
  /** Per HTTP call, through reading the answer. */
  timeoutMs: number;
  /** Extra attempts of an idempotent call after a network failure or timeout (default 2). */
  retries?: number;
  /** First retry delay, doubling each time (default 200 ms). */
  retryBackoffMs?: number;
  now?: () => Date;
}

export interface StkPushRequest {
  /** `2547…` or `2541…` (the payer, and the phone that gets the prompt). */
  phoneNumber: string;
  /** Whole shillings, at least 1. */
  amount: number;
  /** At most 12 characters; shown to the customer. */
  accountReference: string;
  /** At most 13 characters. */
  description: string;
  callbackUrl: string;
}

export type StkQueryResult =
  /** The customer has not answered the prompt yet (Daraja answers 500.001.1001). */
  { state: 'pending'; checkoutRequestId: string; description: string } | ({ state: 'done' } & StkQueryResponse);

export interface C2bRegisterRequest {
  confirmationUrl: string;
  validationUrl: string;
  /** What Daraja does when the validation URL does not answer. */
  responseType: 'Completed' | 'Cancelled';
  /** Default: the configured shortcode (MPESA_SHORTCODE). */
  shortCode?: string;
}

export interface B2cRequest {
  /** Our idempotency key: Daraja refuses a second request with the same one. */
  originatorConversationId: string;
  /** Whole shillings (Daraja accepts 10 to 250,000). */
  amount: number;
  /** The recipient, `2547…` / `2541…`. */
  phoneNumber: string;
  remarks: string;
  resultUrl: string;
  queueTimeoutUrl: string;
  occasion?: string;
  commandId?: B2cCommandId;
}

/** Asks M-PESA how a transaction ended; the answer comes later, as a Result posted to `resultUrl`. */
export interface TransactionStatusRequest {
  /** The transaction's OriginatorConversationID (for a B2C, the one Deni sent). */
  originatorConversationId?: string;
  /** The transaction's M-PESA receipt (TransactionID), when known. One of the two is required. */
  transactionId?: string;
  /** The shortcode the transaction went through (default MPESA_B2C_SHORTCODE; a paybill payment: MPESA_SHORTCODE). */
  partyA?: string;
  resultUrl: string;
  queueTimeoutUrl: string;
  remarks: string;
  occasion?: string;
}

interface Answer {
  status: number;
  body: unknown;
}

type Json = Record<string, unknown>;

const MSISDN = /^254[17]\d{8}$/;

/** KEYS[1] key; ARGV[1] expected value. Deletes only what we set (a lock, or a token we saw refused). */
const DELETE_IF_EQUAL = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Calls that change nothing at Daraja: an unknown outcome of one does not matter. */
const QUERIES: ReadonlySet<DarajaOperation> = new Set(['oauth', 'stk_query', 'transaction_status']);

/** Connection errors that mean the request never left: safe to report as "not sent". */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * Safaricom Daraja over HTTP: OAuth, STK push and query, C2B URL registration, B2C, Transaction
 * Status. No business logic and no storage besides the shared access token; the M-PESA flows record
 * requests and results.
 *
 * The access token lives in Redis because Daraja invalidates the previous token whenever a new one
 * is issued: every instance must use the same one, and only one instance may ask for a new one at
 * a time (a Redis lock; the others wait and read the result).
 */
@Injectable()
export class DarajaClient {
  private readonly logger = new Logger(DarajaClient.name);
  private readonly retries: number;
  private readonly backoffMs: number;
  private refreshing?: Promise<string>;
  private certificate?: Promise<KeyObject>;
  private readonly baseUrl: string;

  constructor(
    @InjectRedis() private readonly redis: RedisClient,
    @Inject(DARAJA_OPTIONS) private readonly options: DarajaClientOptions,
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
  // API calls

  /** Sends an STK push (Lipa na M-PESA Online). Never retried: a second send is a second prompt. */
  async stkPush(request: StkPushRequest): Promise<StkPushResponse> {
    const op = 'stk_push';
    const amount = wholeAmount(op, request.amount);
    const phone = msisdn(op, request.phoneNumber, 'phoneNumber');
    const accountReference = boundedText(op, request.accountReference, 'accountReference', 12);
    const description = boundedText(op, request.description, 'description', 13);
    const callbackUrl = url(op, request.callbackUrl, 'callbackUrl');
    const timestamp = nairobiTimestamp(this.now());
    const { shortcode, passkey } = this.options;
    const body = {
      BusinessShortCode: shortcode,
      Password: stkPassword(shortcode, passkey, timestamp),
      Timestamp: timestamp,
      TransactionType: this.options.transactionType,
      Amount: amount,
      PartyA: phone,
      PartyB: shortcode,
      PhoneNumber: phone,
      CallBackURL: callbackUrl,
      AccountReference: accountReference,
      TransactionDesc: description,
    };
    const answer = await this.call('stk_push', '/mpesa/stkpush/v1/processrequest', body, false);
    return this.accepted('stk_push', this.parseOk('stk_push', answer, parseStkPushResponse));
  }

  /** Asks how an STK push ended. Idempotent, so retried on network failures. */
  async stkQuery(checkoutRequestId: string): Promise<StkQueryResult> {
    const id = boundedText('stk_query', checkoutRequestId, 'checkoutRequestId', 100);
    const timestamp = nairobiTimestamp(this.now());
    const { shortcode, passkey } = this.options;
    const body = {
      BusinessShortCode: shortcode,
      Password: stkPassword(shortcode, passkey, timestamp),
      Timestamp: timestamp,
      CheckoutRequestID: id,
    };
    const answer = await this.call('stk_query', '/mpesa/stkpushquery/v1/query', body, true);
    const error = answer.status >= 400 ? parseDarajaErrorBody(answer.body) : null;
    if (error?.errorCode === DARAJA_STILL_PROCESSING) {
      return {
        state: 'pending',
        checkoutRequestId: id,
        description: error.errorMessage ?? 'The transaction is being processed',
      };
    }
    return { state: 'done', ...this.parseOk('stk_query', answer, parseStkQueryResponse) };
  }

  /** Registers the C2B validation and confirmation URLs of a shortcode. Not retried. */
  async registerC2bUrls(request: C2bRegisterRequest): Promise<C2bRegisterResponse> {
    const op = 'c2b_register';
    if (request.responseType !== 'Completed' && request.responseType !== 'Cancelled')
      throw invalid(op, 'responseType must be Completed or Cancelled');
    const body = {
      ShortCode: request.shortCode ?? this.options.shortcode,
      ResponseType: request.responseType,
      ConfirmationURL: url(op, request.confirmationUrl, 'confirmationUrl'),
      ValidationURL: url(op, request.validationUrl, 'validationUrl'),
    };
    const answer = await this.call('c2b_register', '/mpesa/c2b/v1/registerurl', body, false);
    return this.accepted('c2b_register', this.parseOk('c2b_register', answer, parseC2bRegisterResponse));
  }

  /**
   * Sends money to a phone (B2C), once: a failure whose outcome is unknown is reported as such
   * (`outcomeUnknown`), not retried. Sending the same OriginatorConversationID again after Daraja
   * took it fails with `duplicateRequest`.
   */
  async b2c(request: B2cRequest): Promise<B2cResponse> {
    const op = 'b2c';
    const originatorConversationId = boundedText(op, request.originatorConversationId, 'originatorConversationId', 100);
    const commandId = request.commandId ?? 'BusinessPayment';
    if (!['BusinessPayment', 'SalaryPayment', 'PromotionPayment'].includes(commandId))
      throw invalid(op, 'commandId is not a B2C command');
    const body = {
      OriginatorConversationID: originatorConversationId,
      InitiatorName: this.options.initiatorName,
      SecurityCredential: securityCredential(this.options.initiatorPassword, await this.certificateKey()),
      CommandID: commandId,
      Amount: wholeAmount(op, request.amount),
      PartyA: this.options.b2cShortcode,
      PartyB: msisdn(op, request.phoneNumber, 'phoneNumber'),
      Remarks: boundedText(op, request.remarks, 'remarks', 100),
      QueueTimeOutURL: url(op, request.queueTimeoutUrl, 'queueTimeoutUrl'),
      ResultURL: url(op, request.resultUrl, 'resultUrl'),
      Occassion: request.occasion === undefined ? '' : boundedText(op, request.occasion, 'occasion', 100, true),
    };
    // Not retried here: a request that may have reached Daraja could pay twice unless Daraja refuses
    // the repeated OriginatorConversationID, and Deni does not rely on that. WithdrawalService decides.
    const answer = await this.call('b2c', '/mpesa/b2c/v3/paymentrequest', body, false);
    return this.accepted('b2c', this.parseOk('b2c', answer, parseB2cResponse));
  }

  /**
   * Transaction Status (`TransactionStatusQuery`): asks M-PESA how a transaction ended, by
   * OriginatorConversationID or receipt, for the shortcode that made it (PartyA, IdentifierType 4).
   * The answer here is only an acknowledgement; the status comes as a Result callback. A query
   * changes nothing, so it is retried on network failures (at worst two Results arrive).
   */
  async transactionStatus(request: TransactionStatusRequest): Promise<TransactionStatusResponse> {
    const op = 'transaction_status';
    const originatorConversationId =
      request.originatorConversationId === undefined
        ? undefined
        : boundedText(op, request.originatorConversationId, 'originatorConversationId', 100);
    const transactionId =
      request.transactionId === undefined ? undefined : boundedText(op, request.transactionId, 'transactionId', 32);
    if (!originatorConversationId && !transactionId)
      throw invalid(op, 'originatorConversationId or transactionId is required');
    const body = {
      Initiator: this.options.initiatorName,
      SecurityCredential: securityCredential(this.options.initiatorPassword, await this.certificateKey()),
      CommandID: 'TransactionStatusQuery',
      ...(transactionId ? { TransactionID: transactionId } : {}),
      // Safaricom's page names this field OriginalConversationID in its table and sample, while
      // the clients in use (and the request this answers) say OriginatorConversationID: both are
      // sent, with the same value.
      ...(originatorConversationId
        ? { OriginatorConversationID: originatorConversationId, OriginalConversationID: originatorConversationId }
        : {}),
      PartyA: request.partyA ?? this.options.b2cShortcode,
      IdentifierType: '4',
      ResultURL: url(op, request.resultUrl, 'resultUrl'),
      QueueTimeOutURL: url(op, request.queueTimeoutUrl, 'queueTimeoutUrl'),
      Remarks: boundedText(op, request.remarks, 'remarks', 100),
      Occasion: request.occasion === undefined ? '' : boundedText(op, request.occasion, 'occasion', 100, true),
    };
    const answer = await this.call(op, '/mpesa/transactionstatus/v1/query', body, true);
    return this.accepted(op, this.parseOk(op, answer, parseTransactionStatusResponse));
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  /** An authenticated call; a refused token is replaced once and the call sent again. */
  private async call(operation: DarajaOperation, path: string, body: Json, idempotent: boolean): Promise<Answer> {
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
  private parseOk<T>(operation: DarajaOperation, answer: Answer, parse: (body: unknown) => T): T {
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
  private accepted<T extends { responseCode: string; responseDescription: string }>(
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

  private certificateKey(): Promise<KeyObject> {
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

  private now(): Date {
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
    outcomeUnknown: !(code && NOT_SENT.has(code)),
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

// Checks of the request's form, before anything is sent. Limits that are Daraja's business rules
// (B2C's 10 to 250,000) are left to Daraja, which owns them.

function invalid(operation: DarajaOperation, message: string): DarajaError {
  return new DarajaError({ operation, errorCode: INVALID_REQUEST, errorMessage: message, retryable: false });
}

function wholeAmount(operation: DarajaOperation, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw invalid(operation, 'amount must be whole shillings, at least 1');
  return value;
}

function msisdn(operation: DarajaOperation, value: unknown, field: string): string {
  if (typeof value !== 'string' || !MSISDN.test(value))
    throw invalid(operation, `${field} must be a Kenyan mobile number like 254712345678`);
  return value;
}

function boundedText(
  operation: DarajaOperation,
  value: unknown,
  field: string,
  max: number,
  allowEmpty = false,
): string {
  if (typeof value !== 'string' || (!allowEmpty && value.trim() === '') || value.length > max) {
    throw invalid(operation, `${field} must be ${allowEmpty ? 'at most' : '1 to'} ${max} characters`);
  }
  return value;
}

function url(operation: DarajaOperation, value: unknown, field: string): string {
  if (typeof value !== 'string' || !URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw invalid(operation, `${field} must be an http(s) URL`);
  }
  return value;
}
