// Size: over 400 lines. The whole Daraja simulator (OAuth, STK, C2B, B2C, Transaction Status,
// persistence, control routes) in one function. Splitting it by flow, behind the same tests, is the
// restructuring issue ("A house to live in"), kept out of feature changes.
import { readFileSync } from 'node:fs';
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  randomBytes,
  randomInt,
  type KeyObject,
} from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MPESA_DEVELOPMENT_DEFAULTS } from '../../config/app-config.js';
import { nairobiTimestamp, stkPassword } from '../../mpesa/daraja.parsers.js';
import { serverUrl, simulatorScope } from '../shared-server.js';
import { writeStateFile } from '../state-file.js';
import {
  SIMULATOR_OUTCOMES,
  STK_RESOLUTIONS,
  type PendingStkPush,
  type SimulatorOutcome,
  type StkResolution,
} from './outcomes.js';
import { selfSignedCertificate } from './self-signed-certificate.js';
import {
  alnum,
  b2cDateTime,
  checkoutRequestId,
  darajaError,
  darajaJson,
  darajaRequestId,
  Fixed2,
  receiptNumber,
  SUCCESS_DESC,
} from './format.js';
import {
  asObject,
  decrypts,
  isHttpUrl,
  isOptionalText,
  MSISDN,
  safeEqual,
  scalar,
  SHORTCODE,
  STK_TYPES,
  wholeAmount,
} from './validation.js';

export {
  SIMULATOR_OUTCOMES,
  STK_RESOLUTIONS,
  type PendingStkPush,
  type SimulatorOutcome,
  type StkResolution,
} from './outcomes.js';

/**
 * A local Daraja: the same endpoints, validation, error envelopes and callback bodies as
 * Safaricom's (modelled on the published samples in test/fixtures/providers), with outcomes
 * scripted per phone number. Deni's M-PESA in development (the simulators process,
 * src/simulators/main.ts) and in tests (test/support/daraja.ts), always outside Deni's process.
 *
 * Control routes (no auth; the server listens on 127.0.0.1): `POST /simulator/outcomes
 * {phoneNumber, outcome}`, `POST /simulator/c2b {billRefNumber, amount, msisdn?, shortCode?}`,
 * `GET /simulator/stk/pending?phoneNumber=` (STK pushes not decided yet), `POST
 * /simulator/stk/:checkoutRequestId/outcome {outcome}` (decide one now, e.g. one held by `hold`),
 * `GET /simulator/certificate` (the PEM that encrypts SecurityCredential), `GET /simulator/log`.
 * Besides Deni's own calls it answers what third-party Daraja clients call: B2C on its v1 path and
 * the sandbox's C2B simulate (`POST /mpesa/c2b/v1/simulate`).
 */

export interface DarajaSimulatorOptions {
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** How long the "customer" takes before the result is decided and sent (default 1000 ms). */
  callbackDelayMs?: number;
  /** Gap between the two sends of `duplicate_callback` (default 100 ms). */
  duplicateDelayMs?: number;
  /** Delay before every API answer (OAuth, STK, C2B, B2C), to exercise client timeouts. */
  responseDelayMs?: number;
  /** `expires_in` of issued tokens (Daraja: 3599). */
  tokenTtlSeconds?: number;
  consumerKey?: string;
  consumerSecret?: string;
  /** The STK passkey that Passwords are checked against (default: the public sandbox passkey). */
  passkey?: string;
  initiatorName?: string;
  initiatorPassword?: string;
  /**
   * A JSON file that keeps what Daraja would never forget (the key behind the certificate, the
   * current token, scripted outcomes, STK pushes, B2C payments, registered C2B URLs, the float)
   * across restarts, written atomically after every change. Unset: memory only.
   */
  stateFile?: string;
  /**
   * A shared server (not listening yet) to answer on, in a scope of its own; its owner listens
   * and closes it (host and port are then ignored). Unset: a server of its own.
   */
  server?: FastifyInstance;
}

export interface SimulatorRequest {
  at: Date;
  method: string;
  /** Path without the query string, e.g. `/oauth/v1/generate`. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export type SimulatorCallbackKind =
  'stk' | 'b2c_result' | 'b2c_timeout' | 'c2b_validation' | 'c2b_confirmation' | 'transaction_status';

export interface SimulatorCallback {
  at: Date;
  kind: SimulatorCallbackKind;
  url: string;
  /** The exact bytes sent. */
  text: string;
  status?: number;
  response?: unknown;
  error?: string;
}

/**
 * A one-off misbehaviour for the next requests to `path` (exact path, e.g.
 * `/mpesa/stkpush/v1/processrequest`); with `phoneNumber`, only for requests naming that number
 * (PhoneNumber, PartyA or PartyB), so that other payments in flight are not affected.
 */
export type SimulatorFault = { path: string; times?: number; phoneNumber?: string } &
  /** The connection is dropped after the request arrived (a network error for the client). */
  (
    | { kind: 'reset' }
    | { kind: 'delay'; delayMs: number }
    /** Answered with this status (and body: by default Daraja's 500.003.02 envelope), not processed. */
    | { kind: 'status'; status: number; body?: unknown }
  );

export interface C2bPayment {
  billRefNumber: string;
  /** Whole shillings. */
  amount: number;
  /** Unmasked payer (default 254708374149); Daraja masks it in what it sends. */
  msisdn?: string;
  /** Whose registered URLs to call (default: the last registered). */
  shortCode?: string;
  firstName?: string;
  /** Paid to a paybill (TransactionType `Pay Bill`, the default) or a till (`Buy Goods`). */
  commandId?: 'CustomerPayBillOnline' | 'CustomerBuyGoodsOnline';
}

export interface C2bSimulation {
  transId: string;
  /** Validation accepted (or skipped), and the confirmation was sent. */
  completed: boolean;
  validation?: SimulatorCallback;
  confirmation?: SimulatorCallback;
}

export interface DarajaSimulator {
  url: string;
  /** X.509 certificate PEM whose key encrypts SecurityCredential (as Safaricom's certificate does). */
  certificatePem: string;
  keyPair: { publicKey: KeyObject; privateKey: KeyObject };
  /** Every API request received, in order (control routes excluded). */
  requests: SimulatorRequest[];
  /** Every callback sent, in order. */
  callbacks: SimulatorCallback[];
  setOutcome(phoneNumber: string, outcome: SimulatorOutcome): void;
  /** STK pushes not decided yet, oldest first; only this number's (254…) when given. */
  pendingStkPushes(phoneNumber?: string): PendingStkPush[];
  /**
   * Decides a pending STK push now with `outcome` and sends its callback (if the outcome sends
   * one) as the delay would have. Throws when the push is unknown or already decided.
   */
  resolveStkPush(checkoutRequestId: string, outcome: StkResolution): void;
  injectFault(fault: SimulatorFault): void;
  /** Forgets the faults not used up yet: on this path only, or all. */
  clearFaults(path?: string): void;
  setResponseDelay(ms: number): void;
  /** Invalidates the current token, as issuing a new one elsewhere would. */
  invalidateTokens(): void;
  /** A C2B payment: validation request, then (if accepted) confirmation, to the registered URLs. */
  c2b(payment: C2bPayment): Promise<C2bSimulation>;
  close(): Promise<void>;
}

interface B2cTransaction {
  originatorConversationId: string;
  conversationId: string;
  partyA: string;
  phoneNumber: string;
  amount: number;
  requestedAt: Date;
  /** queued: not decided yet; expired: timed out in M-PESA (nothing paid). */
  state: 'queued' | 'completed' | 'failed' | 'expired';
  receipt?: string;
  finishedAt?: Date;
  /** What deciding it needs (kept so a restarted simulator still decides a queued payment). */
  decision: { credentialOk: boolean; outcome: SimulatorOutcome; resultUrl: string; queueTimeoutUrl: string };
}

/** A payment Transaction Status can answer about that needs no deciding (a paybill payment made). */
type PaidRecord = Omit<B2cTransaction, 'decision'>;

interface StkPush {
  merchantRequestId: string;
  checkoutRequestId: string;
  phoneNumber: string;
  amount: number;
  callbackUrl: string;
  outcome: SimulatorOutcome;
  requestedAt: Date;
  result?: { code: number; desc: string };
}

const B2C_COMMANDS = ['BusinessPayment', 'SalaryPayment', 'PromotionPayment'];

const STK_RESULTS: Record<StkResolution, { code: number; desc: string }> = {
  success: { code: 0, desc: SUCCESS_DESC },
  lost_callback: { code: 0, desc: SUCCESS_DESC },
  duplicate_callback: { code: 0, desc: SUCCESS_DESC },
  cancelled: { code: 1032, desc: 'Request cancelled by user' },
  insufficient_funds: { code: 1, desc: 'The balance is insufficient for the transaction.' },
  wrong_pin: { code: 2001, desc: 'The initiator information is invalid.' },
  unreachable: { code: 1037, desc: 'DS timeout user cannot be reached' },
  no_callback: { code: 1037, desc: 'No response from user.' },
  queue_timeout: { code: 1037, desc: 'No response from user.' },
};

export async function startDarajaSimulator(options: DarajaSimulatorOptions = {}): Promise<DarajaSimulator> {
  const settings = {
    callbackDelayMs: options.callbackDelayMs ?? 1_000,
    duplicateDelayMs: options.duplicateDelayMs ?? 100,
    tokenTtlSeconds: options.tokenTtlSeconds ?? 3599,
    consumerKey: options.consumerKey ?? MPESA_DEVELOPMENT_DEFAULTS.consumerKey,
    consumerSecret: options.consumerSecret ?? MPESA_DEVELOPMENT_DEFAULTS.consumerSecret,
    passkey: options.passkey ?? MPESA_DEVELOPMENT_DEFAULTS.passkey,
    initiatorName: options.initiatorName ?? MPESA_DEVELOPMENT_DEFAULTS.initiatorName,
    initiatorPassword: options.initiatorPassword ?? MPESA_DEVELOPMENT_DEFAULTS.initiatorPassword,
  };
  let responseDelayMs = options.responseDelayMs ?? 0;
  const saved = options.stateFile ? readState(options.stateFile) : undefined;
  const keyPair = saved
    ? (() => {
        const privateKey = createPrivateKey(saved.privateKeyPem);
        return { privateKey, publicKey: createPublicKey(privateKey) };
      })()
    : await new Promise<{ publicKey: KeyObject; privateKey: KeyObject }>((resolve, reject) =>
        generateKeyPair('rsa', { modulusLength: 2048 }, (err, publicKey, privateKey) =>
          err ? reject(err) : resolve({ publicKey, privateKey }),
        ),
      );
  const certificatePem = selfSignedCertificate(keyPair, 'Deni Daraja simulator');

  const requests: SimulatorRequest[] = [];
  const callbacks: SimulatorCallback[] = [];
  const outcomes = new Map<string, SimulatorOutcome>();
  const faults: (SimulatorFault & { left: number })[] = [];
  const pushes = new Map<string, StkPush>();
  const b2cIds = new Set<string>();
  /** What M-PESA did with each B2C (by OriginatorConversationID), for Transaction Status. */
  const b2cs = new Map<string, B2cTransaction>();
  /** Paybill payments the simulator confirmed, by TransID (for Transaction Status). */
  const c2bs = new Map<string, PaidRecord>();
  const registrations = new Map<string, { responseType: string; confirmationUrl: string; validationUrl: string }>();
  let lastRegistered: string | undefined;
  let token: { value: string; expiresAt: number } | undefined;
  // Cents, so the float shown in B2C results never suffers rounding.
  let utilityFundsCents = 100_000_000;
  if (saved) {
    for (const [phone, outcome] of saved.outcomes) outcomes.set(phone, outcome);
    for (const push of saved.pushes)
      pushes.set(push.checkoutRequestId, { ...push, requestedAt: new Date(push.requestedAt) });
    for (const id of saved.b2cIds) b2cIds.add(id);
    for (const b2c of saved.b2cs) {
      b2cs.set(b2c.originatorConversationId, {
        ...b2c,
        requestedAt: new Date(b2c.requestedAt),
        finishedAt: b2c.finishedAt === undefined ? undefined : new Date(b2c.finishedAt),
      });
    }
    for (const c2b of saved.c2bs ?? []) {
      c2bs.set(c2b.receipt ?? c2b.originatorConversationId, {
        ...c2b,
        requestedAt: new Date(c2b.requestedAt),
        finishedAt: c2b.finishedAt === undefined ? undefined : new Date(c2b.finishedAt),
      });
    }
    for (const [shortCode, registration] of saved.registrations) registrations.set(shortCode, registration);
    lastRegistered = saved.lastRegistered;
    token = saved.token;
    utilityFundsCents = saved.utilityFundsCents;
  }

  /** Writes the state file (a temporary file, then a rename: a crash never leaves half a file). */
  function persist(): void {
    if (!options.stateFile) return;
    const state: PersistedState = {
      version: 1,
      privateKeyPem: keyPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      token,
      outcomes: [...outcomes],
      pushes: [...pushes.values()],
      b2cIds: [...b2cIds],
      b2cs: [...b2cs.values()],
      c2bs: [...c2bs.values()],
      registrations: [...registrations],
      lastRegistered,
      utilityFundsCents,
    };
    writeStateFile(options.stateFile, JSON.stringify(state));
  }

  const timers = new Set<NodeJS.Timeout>();
  const closing = new AbortController();
  const later = (ms: number, task: () => Promise<unknown> | void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      void Promise.resolve()
        .then(task)
        .catch(() => undefined);
    }, ms);
    timers.add(timer);
  };
  const outcomeOf = (phone: string): SimulatorOutcome => outcomes.get(phone) ?? 'success';

  async function post(kind: SimulatorCallbackKind, url: string, text: string): Promise<SimulatorCallback> {
    const record: SimulatorCallback = { at: new Date(), kind, url, text };
    callbacks.push(record);
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: text,
        signal: AbortSignal.any([AbortSignal.timeout(10_000), closing.signal]),
      });
      record.status = response.status;
      const answer = await response.text();
      record.response = parseJson(answer);
    } catch (e) {
      // Daraja does not retry a failed callback either.
      record.error = (e as Error & { cause?: Error }).cause?.message ?? (e as Error).message;
    }
    return record;
  }

  /** Sends once, or twice for duplicate_callback (the second does not wait for the first). */
  function deliver(kind: SimulatorCallbackKind, url: string, text: string, outcome: SimulatorOutcome): void {
    void post(kind, url, text);
    if (outcome === 'duplicate_callback')
      later(settings.duplicateDelayMs, () => post(kind, url, text).then(() => undefined));
  }

  const { root, scope: app, owned } = await simulatorScope(options.server, { bodyLimit: 64 * 1024 });

  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    void reply
      .status(error.statusCode && error.statusCode < 500 ? error.statusCode : 500)
      .send(
        darajaError(
          error.statusCode === 400 ? '400.002.02' : '500.001.1001',
          error.statusCode === 400 ? 'Bad Request - Invalid Body' : 'Internal Server Error',
        ),
      );
  });

  // Whatever a request changed is on disk before the next one is answered.
  app.addHook('onSend', (_request, _reply, payload, done) => {
    persist();
    done(null, payload);
  });

  // Record, then misbehave if told to. Control routes are neither recorded nor faulted.
  app.addHook('preHandler', async (request, reply) => {
    const path = request.url.split('?')[0];
    if (path.startsWith('/simulator/')) return;
    requests.push({
      at: new Date(),
      method: request.method,
      path,
      headers: { ...request.headers },
      body: request.body,
    });
    const fault = faults.find(
      (f) => f.path === path && f.left > 0 && (f.phoneNumber === undefined || namesPhone(request.body, f.phoneNumber)),
    );
    if (fault) {
      fault.left -= 1;
      if (fault.kind === 'reset') {
        reply.hijack();
        request.raw.socket.destroy();
        return;
      }
      if (fault.kind === 'delay') await sleep(fault.delayMs);
      if (fault.kind === 'status')
        return reply.status(fault.status).send(fault.body ?? darajaError('500.003.02', 'Spike arrest violation'));
    }
    if (responseDelayMs > 0) await sleep(responseDelayMs);
  });

  /** Daraja's bearer check; answers 401 and returns false when the token is not the current one. */
  function authorized(request: FastifyRequest, reply: FastifyReply): boolean {
    const header = request.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    if (token && given && safeEqual(given, token.value) && Date.now() < token.expiresAt) return true;
    void reply.status(401).send(darajaError('404.001.03', 'Invalid Access Token'));
    return false;
  }

  // ------------------------------------------------------------------------------------------
  // OAuth

  app.get('/oauth/v1/generate', async (request, reply) => {
    const query = request.query as { grant_type?: string };
    if (query.grant_type !== 'client_credentials')
      return reply.status(400).send(darajaError('400.008.02', 'Invalid grant type passed'));
    const header = request.headers.authorization ?? '';
    if (!header.startsWith('Basic '))
      return reply.status(400).send(darajaError('400.008.01', 'Invalid Authentication passed'));
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (
      colon < 0 ||
      !safeEqual(decoded.slice(0, colon), settings.consumerKey) ||
      !safeEqual(decoded.slice(colon + 1), settings.consumerSecret)
    ) {
      return reply.status(400).send(darajaError('400.008.01', 'Invalid Authentication passed'));
    }
    // A new token replaces the previous one, which stops working at once (as on Daraja).
    token = { value: alnum(28, true), expiresAt: Date.now() + settings.tokenTtlSeconds * 1_000 };
    return reply.send({ access_token: token.value, expires_in: settings.tokenTtlSeconds });
  });

  // ------------------------------------------------------------------------------------------
  // STK push and query

  function checkPassword(body: Record<string, unknown>): string | null {
    const shortcode = scalar(body.BusinessShortCode);
    if (!SHORTCODE.test(shortcode)) return 'BusinessShortCode';
    const timestamp = scalar(body.Timestamp);
    if (!/^\d{14}$/.test(timestamp)) return 'Timestamp';
    if (
      typeof body.Password !== 'string' ||
      !safeEqual(body.Password, stkPassword(shortcode, settings.passkey, timestamp))
    )
      return 'Password';
    return null;
  }

  app.post('/mpesa/stkpush/v1/processrequest', async (request, reply) => {
    if (!authorized(request, reply)) return reply;
    const body = asObject(request.body);
    const amount = wholeAmount(body.Amount);
    const invalidField =
      checkPassword(body) ??
      (!STK_TYPES.includes(String(body.TransactionType)) ? 'TransactionType' : null) ??
      (amount === null || amount < 1 ? 'Amount' : null) ??
      (!MSISDN.test(scalar(body.PartyA)) ? 'PartyA' : null) ??
      (!SHORTCODE.test(scalar(body.PartyB)) ? 'PartyB' : null) ??
      (!MSISDN.test(scalar(body.PhoneNumber)) ? 'PhoneNumber' : null) ??
      (!isHttpUrl(body.CallBackURL) ? 'CallBackURL' : null) ??
      (typeof body.AccountReference !== 'string' ||
      body.AccountReference.length < 1 ||
      body.AccountReference.length > 12
        ? 'AccountReference'
        : null) ??
      (typeof body.TransactionDesc !== 'string' || body.TransactionDesc.length > 13 ? 'TransactionDesc' : null);
    if (invalidField) return reply.status(400).send(darajaError('400.002.02', `Bad Request - Invalid ${invalidField}`));

    const phoneNumber = String(body.PhoneNumber);
    const push: StkPush = {
      merchantRequestId: darajaRequestId(),
      checkoutRequestId: checkoutRequestId(),
      phoneNumber,
      amount: amount as number,
      callbackUrl: String(body.CallBackURL),
      outcome: outcomeOf(phoneNumber),
      requestedAt: new Date(),
    };
    pushes.set(push.checkoutRequestId, push);
    const outcome = push.outcome;
    if (outcome !== 'hold') later(settings.callbackDelayMs, () => decideStk(push, outcome));
    return reply.send({
      MerchantRequestID: push.merchantRequestId,
      CheckoutRequestID: push.checkoutRequestId,
      ResponseCode: '0',
      ResponseDescription: 'Success. Request accepted for processing',
      CustomerMessage: 'Success. Request accepted for processing',
    });
  });

  /** Decides a push once (a push resolved early is not decided again when its delay ends). */
  function decideStk(push: StkPush, outcome: StkResolution): void {
    if (push.result) return;
    const result = STK_RESULTS[outcome];
    push.outcome = outcome;
    push.result = result;
    persist();
    if (outcome === 'no_callback' || outcome === 'lost_callback' || outcome === 'queue_timeout') return;
    const callback: Record<string, unknown> = {
      MerchantRequestID: push.merchantRequestId,
      CheckoutRequestID: push.checkoutRequestId,
      ResultCode: result.code,
      ResultDesc: result.desc,
    };
    if (result.code === 0) {
      callback.CallbackMetadata = {
        Item: [
          { Name: 'Amount', Value: new Fixed2(push.amount) },
          { Name: 'MpesaReceiptNumber', Value: receiptNumber() },
          { Name: 'TransactionDate', Value: Number(nairobiTimestamp()) },
          { Name: 'PhoneNumber', Value: Number(push.phoneNumber) },
        ],
      };
    }
    deliver('stk', push.callbackUrl, darajaJson({ Body: { stkCallback: callback } }), outcome);
  }

  function pendingStkPushes(phoneNumber?: string): PendingStkPush[] {
    return [...pushes.values()]
      .filter((p) => !p.result && (phoneNumber === undefined || p.phoneNumber === phoneNumber))
      .map((p) => ({
        checkoutRequestId: p.checkoutRequestId,
        merchantRequestId: p.merchantRequestId,
        phoneNumber: p.phoneNumber,
        amount: p.amount,
        requestedAt: p.requestedAt,
        held: p.outcome === 'hold',
      }));
  }

  function resolveStkPush(checkoutRequestId: string, outcome: StkResolution): void {
    if (!STK_RESOLUTIONS.includes(outcome)) throw new Error(`outcome must be one of ${STK_RESOLUTIONS.join(', ')}`);
    const push = pushes.get(checkoutRequestId);
    if (!push) throw new Error(`no STK push ${checkoutRequestId}`);
    if (push.result) throw new Error(`STK push ${checkoutRequestId} is already decided (${push.outcome})`);
    decideStk(push, outcome);
  }

  app.post('/mpesa/stkpushquery/v1/query', async (request, reply) => {
    if (!authorized(request, reply)) return reply;
    const body = asObject(request.body);
    const invalidField = checkPassword(body);
    if (invalidField) return reply.status(400).send(darajaError('400.002.02', `Bad Request - Invalid ${invalidField}`));
    const push = typeof body.CheckoutRequestID === 'string' ? pushes.get(body.CheckoutRequestID) : undefined;
    if (!push) return reply.status(400).send(darajaError('400.002.02', 'Bad Request - Invalid CheckoutRequestID'));
    if (!push.result) return reply.status(500).send(darajaError('500.001.1001', 'The transaction is being processed'));
    return reply.send({
      ResponseCode: '0',
      ResponseDescription: 'The service request has been accepted successsfully',
      MerchantRequestID: push.merchantRequestId,
      CheckoutRequestID: push.checkoutRequestId,
      ResultCode: String(push.result.code),
      ResultDesc: push.result.desc,
    });
  });

  // ------------------------------------------------------------------------------------------
  // C2B

  app.post('/mpesa/c2b/v1/registerurl', async (request, reply) => {
    if (!authorized(request, reply)) return reply;
    const body = asObject(request.body);
    const invalidField =
      (!SHORTCODE.test(scalar(body.ShortCode)) ? 'ShortCode' : null) ??
      (body.ResponseType !== 'Completed' && body.ResponseType !== 'Cancelled' ? 'ResponseType' : null) ??
      (!isHttpUrl(body.ConfirmationURL) ? 'ConfirmationURL' : null) ??
      (!isHttpUrl(body.ValidationURL) ? 'ValidationURL' : null);
    if (invalidField) return reply.status(400).send(darajaError('400.002.02', `Bad Request - Invalid ${invalidField}`));
    const shortCode = String(body.ShortCode);
    registrations.set(shortCode, {
      responseType: String(body.ResponseType),
      confirmationUrl: String(body.ConfirmationURL),
      validationUrl: String(body.ValidationURL),
    });
    lastRegistered = shortCode;
    // Daraja's own spelling of the field.
    return reply.send({
      OriginatorCoversationID: darajaRequestId(),
      ResponseCode: '0',
      ResponseDescription: 'Success',
    });
  });

  async function c2b(payment: C2bPayment): Promise<C2bSimulation> {
    const shortCode = payment.shortCode ?? lastRegistered;
    const registration = shortCode ? registrations.get(shortCode) : undefined;
    if (!shortCode || !registration) throw new Error('no C2B URLs registered (call registerC2bUrls first)');
    if (!Number.isSafeInteger(payment.amount) || payment.amount < 1)
      throw new Error('amount must be whole shillings, at least 1');
    const msisdn = payment.msisdn ?? '254708374149';
    const transId = receiptNumber();
    const request = (balance: string) =>
      darajaJson({
        TransactionType: payment.commandId === 'CustomerBuyGoodsOnline' ? 'Buy Goods' : 'Pay Bill',
        TransID: transId,
        TransTime: nairobiTimestamp(),
        TransAmount: `${payment.amount}.00`,
        BusinessShortCode: shortCode,
        BillRefNumber: payment.billRefNumber,
        InvoiceNumber: '',
        OrgAccountBalance: balance,
        ThirdPartyTransID: '',
        MSISDN: `${msisdn.slice(0, 5)}****${msisdn.slice(-3)}`,
        FirstName: payment.firstName ?? 'John',
        MiddleName: '',
        LastName: '',
      });
    const validation = await post('c2b_validation', registration.validationUrl, request(''));
    const answered =
      validation.status !== undefined && validation.status < 300 && typeof validation.response === 'object';
    const code = answered ? (validation.response as Record<string, unknown>).ResultCode : undefined;
    const accepted = answered ? code === '0' || code === 0 : registration.responseType === 'Completed';
    if (!accepted) return { transId, completed: false, validation };
    utilityFundsCents += payment.amount * 100;
    // Known to Transaction Status by its TransID, as a completed payment to the paybill.
    c2bs.set(transId, {
      originatorConversationId: darajaRequestId(),
      conversationId: `AG_${nairobiTimestamp().slice(0, 8)}_${randomBytes(10).toString('hex')}`,
      partyA: msisdn,
      phoneNumber: shortCode,
      amount: payment.amount,
      requestedAt: new Date(),
      state: 'completed',
      receipt: transId,
      finishedAt: new Date(),
    });
    persist();
    const confirmation = await post(
      'c2b_confirmation',
      registration.confirmationUrl,
      request((utilityFundsCents / 100).toFixed(2)),
    );
    return { transId, completed: true, validation, confirmation };
  }

  // Daraja's sandbox-only "Simulate C2B Request" (what third-party clients call, e.g. mpesa-node's
  // c2bSimulate): the customer has paid, so it is accepted at once and the notifications follow,
  // to the URLs registered for the ShortCode as the control route's `c2b` sends them. A ShortCode
  // with no URLs registered is paid without notifications, as M-PESA completes such payments.
  app.post('/mpesa/c2b/v1/simulate', async (request, reply) => {
    if (!authorized(request, reply)) return reply;
    const body = asObject(request.body);
    const amount = wholeAmount(body.Amount);
    const commandId = String(body.CommandID);
    const billRef = body.BillRefNumber;
    const invalidField =
      (!SHORTCODE.test(scalar(body.ShortCode)) ? 'ShortCode' : null) ??
      (!STK_TYPES.includes(commandId) ? 'CommandID' : null) ??
      (amount === null || amount < 1 ? 'Amount' : null) ??
      (!MSISDN.test(scalar(body.Msisdn)) ? 'Msisdn' : null) ??
      // An account number for a paybill; a till takes none (null).
      ((commandId === 'CustomerPayBillOnline'
        ? typeof billRef !== 'string' || billRef === ''
        : !isOptionalText(billRef)) ||
      (typeof billRef === 'string' && billRef.length > 20)
        ? 'BillRefNumber'
        : null);
    if (invalidField) return reply.status(400).send(darajaError('400.002.02', `Bad Request - Invalid ${invalidField}`));
    const shortCode = scalar(body.ShortCode);
    if (registrations.has(shortCode)) {
      const payment: C2bPayment = {
        billRefNumber: typeof billRef === 'string' ? billRef : '',
        amount: amount as number,
        msisdn: scalar(body.Msisdn),
        shortCode,
        commandId: commandId as C2bPayment['commandId'],
      };
      later(0, () => c2b(payment));
    }
    return reply.send({
      OriginatorCoversationID: darajaRequestId(),
      ResponseCode: '0',
      ResponseDescription: 'Accept the service request successfully.',
    });
  });

  // ------------------------------------------------------------------------------------------
  // B2C

  // v3 (Daraja's current path) requires the caller's OriginatorConversationID; v1 (the path the
  // sandbox still serves, and older clients call) makes one up when it is absent.
  app.post('/mpesa/b2c/v3/paymentrequest', (request, reply) => b2cRequest('v3', request, reply));
  app.post('/mpesa/b2c/v1/paymentrequest', (request, reply) => b2cRequest('v1', request, reply));

  async function b2cRequest(version: 'v1' | 'v3', request: FastifyRequest, reply: FastifyReply) {
    if (!authorized(request, reply)) return reply;
    const body = asObject(request.body);
    const amount = wholeAmount(body.Amount);
    const givenOriginator =
      typeof body.OriginatorConversationID === 'string' && body.OriginatorConversationID.trim() !== ''
        ? body.OriginatorConversationID
        : undefined;
    const invalidField =
      (version === 'v3' && !givenOriginator ? 'OriginatorConversationID' : null) ??
      (typeof body.InitiatorName !== 'string' || body.InitiatorName === '' ? 'InitiatorName' : null) ??
      (typeof body.SecurityCredential !== 'string' || body.SecurityCredential === '' ? 'SecurityCredential' : null) ??
      (!B2C_COMMANDS.includes(String(body.CommandID)) ? 'CommandID' : null) ??
      (amount === null || amount < 10 || amount > 250_000 ? 'Amount' : null) ??
      (!SHORTCODE.test(scalar(body.PartyA)) ? 'PartyA' : null) ??
      (!MSISDN.test(scalar(body.PartyB)) ? 'PartyB' : null) ??
      (typeof body.Remarks !== 'string' || body.Remarks.length < 2 || body.Remarks.length > 100 ? 'Remarks' : null) ??
      (!isHttpUrl(body.QueueTimeOutURL) ? 'QueueTimeOutURL' : null) ??
      (!isHttpUrl(body.ResultURL) ? 'ResultURL' : null);
    if (invalidField) return reply.status(400).send(darajaError('400.002.02', `Bad Request - Invalid ${invalidField}`));
    const originatorConversationId =
      givenOriginator ?? `${randomInt(1_000, 100_000)}-${randomInt(1_000_000, 100_000_000)}-1`;
    if (b2cIds.has(originatorConversationId)) {
      return reply.status(500).send(darajaError('500.002.1001', 'Duplicate OriginatorConversationID.'));
    }
    b2cIds.add(originatorConversationId);
    const conversationId = `AG_${nairobiTimestamp().slice(0, 8)}_${randomBytes(10).toString('hex')}`;
    const phoneNumber = String(body.PartyB);
    // The credential is checked later, as Daraja does: the request is accepted, the result fails.
    const credentialOk =
      String(body.InitiatorName) === settings.initiatorName &&
      decrypts(String(body.SecurityCredential), keyPair.privateKey, settings.initiatorPassword);
    const transaction: B2cTransaction = {
      originatorConversationId,
      conversationId,
      partyA: String(body.PartyA),
      phoneNumber,
      amount: amount as number,
      requestedAt: new Date(),
      state: 'queued',
      decision: {
        credentialOk,
        outcome: outcomeOf(phoneNumber),
        resultUrl: String(body.ResultURL),
        queueTimeoutUrl: String(body.QueueTimeOutURL),
      },
    };
    b2cs.set(originatorConversationId, transaction);
    later(settings.callbackDelayMs, () => decideB2c(transaction));
    return reply.send({
      ConversationID: conversationId,
      OriginatorConversationID: originatorConversationId,
      ResponseCode: '0',
      ResponseDescription: 'Accept the service request successfully.',
    });
  }

  function decideB2c(transaction: B2cTransaction): void {
    if (transaction.state !== 'queued') return;
    const b2c = { ...transaction, ...transaction.decision };
    const { outcome } = b2c;
    const record = (state: B2cTransaction['state'], receipt?: string) => {
      Object.assign(transaction, { state, receipt, finishedAt: new Date() });
      persist();
    };
    if (outcome === 'no_callback') {
      // Timed out inside M-PESA, and both the result and the timeout notice lost.
      record('expired');
      return;
    }
    const transactionId = receiptNumber();
    const referenceData = {
      ReferenceItem: {
        Key: 'QueueTimeoutURL',
        Value: 'https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit',
      },
    };
    const base = {
      OriginatorConversationID: b2c.originatorConversationId,
      ConversationID: b2c.conversationId,
      TransactionID: transactionId,
    };
    if (outcome === 'queue_timeout') {
      // Safaricom publishes no sample of this body; it is the Result shape, sent to QueueTimeOutURL.
      const text = darajaJson({
        Result: {
          ResultType: 1,
          ResultCode: 1,
          ResultDesc: 'The service request has timed out.',
          ...base,
          ReferenceData: referenceData,
        },
      });
      record('expired');
      void post('b2c_timeout', b2c.queueTimeoutUrl, text);
      return;
    }
    let failure: { code: number; desc: string } | null = null;
    if (!b2c.credentialOk || outcome === 'wrong_pin')
      failure = { code: 2001, desc: 'The initiator information is invalid.' };
    else if (outcome === 'insufficient_funds' || utilityFundsCents < b2c.amount * 100)
      failure = { code: 1, desc: 'The balance is insufficient for the transaction.' };
    let result: Record<string, unknown>;
    if (failure) {
      record('failed', transactionId);
      result = {
        ResultType: 0,
        ResultCode: failure.code,
        ResultDesc: failure.desc,
        ...base,
        ReferenceData: referenceData,
      };
    } else {
      record('completed', transactionId);
      utilityFundsCents -= b2c.amount * 100;
      result = {
        ResultType: 0,
        ResultCode: 0,
        ResultDesc: SUCCESS_DESC,
        ...base,
        ResultParameters: {
          ResultParameter: [
            { Key: 'TransactionAmount', Value: b2c.amount },
            { Key: 'TransactionReceipt', Value: transactionId },
            { Key: 'ReceiverPartyPublicName', Value: `${b2c.phoneNumber} - JOHN DOE` },
            { Key: 'TransactionCompletedDateTime', Value: b2cDateTime() },
            { Key: 'B2CUtilityAccountAvailableFunds', Value: new Fixed2(utilityFundsCents / 100) },
            { Key: 'B2CWorkingAccountAvailableFunds', Value: new Fixed2(0) },
            { Key: 'B2CRecipientIsRegisteredCustomer', Value: 'Y' },
            { Key: 'B2CChargesPaidAccountAvailableFunds', Value: new Fixed2(0) },
          ],
        },
        ReferenceData: referenceData,
      };
    }
    if (outcome === 'lost_callback') return;
    deliver('b2c_result', b2c.resultUrl, darajaJson({ Result: result }), outcome);
  }

  // ------------------------------------------------------------------------------------------
  // Transaction Status

  app.post('/mpesa/transactionstatus/v1/query', async (request, reply) => {
    if (!authorized(request, reply)) return reply;
    const body = asObject(request.body);
    // Safaricom's page calls it OriginalConversationID; clients send OriginatorConversationID.
    const originator = [body.OriginatorConversationID, body.OriginalConversationID].find(
      (v): v is string => typeof v === 'string' && v.trim() !== '',
    );
    const transactionId =
      typeof body.TransactionID === 'string' && body.TransactionID.trim() !== ''
        ? body.TransactionID.trim()
        : undefined;
    const invalidField =
      (typeof body.Initiator !== 'string' || body.Initiator === '' ? 'Initiator' : null) ??
      (typeof body.SecurityCredential !== 'string' || body.SecurityCredential === '' ? 'SecurityCredential' : null) ??
      (body.CommandID !== 'TransactionStatusQuery' ? 'CommandID' : null) ??
      (!originator && !transactionId ? 'TransactionID' : null) ??
      (!SHORTCODE.test(scalar(body.PartyA)) && !MSISDN.test(scalar(body.PartyA)) ? 'PartyA' : null) ??
      (!['1', '2', '4'].includes(scalar(body.IdentifierType)) ? 'IdentifierType' : null) ??
      (!isHttpUrl(body.ResultURL) ? 'ResultURL' : null) ??
      (!isHttpUrl(body.QueueTimeOutURL) ? 'QueueTimeOutURL' : null) ??
      (typeof body.Remarks !== 'string' || body.Remarks.length < 1 || body.Remarks.length > 100 ? 'Remarks' : null) ??
      (body.Occasion !== undefined && (typeof body.Occasion !== 'string' || body.Occasion.length > 100)
        ? 'Occasion'
        : null);
    if (invalidField) return reply.status(400).send(darajaError('400.002.02', `Bad Request - Invalid ${invalidField}`));
    const query = {
      originatorConversationId: `${randomInt(1_000, 100_000)}-${randomInt(1_000_000, 100_000_000)}-1`,
      conversationId: `AG_${nairobiTimestamp().slice(0, 8)}_${randomBytes(10).toString('hex')}`,
      credentialOk:
        String(body.Initiator) === settings.initiatorName &&
        decrypts(String(body.SecurityCredential), keyPair.privateKey, settings.initiatorPassword),
      about: originator,
      transactionId,
      occasion: typeof body.Occasion === 'string' ? body.Occasion : '',
      resultUrl: String(body.ResultURL),
    };
    later(settings.callbackDelayMs, () => answerStatus(query));
    return reply.send({
      OriginatorConversationID: query.originatorConversationId,
      ConversationID: query.conversationId,
      ResponseCode: '0',
      ResponseDescription: 'Accept the service request successfully.',
    });
  });

  /** The Result of a status query, in the shape of Safaricom's published sample. */
  function answerStatus(query: {
    originatorConversationId: string;
    conversationId: string;
    credentialOk: boolean;
    about?: string;
    transactionId?: string;
    occasion: string;
    resultUrl: string;
  }): Promise<unknown> {
    const found = query.about
      ? b2cs.get(query.about)
      : ([...b2cs.values()].find((t) => t.receipt === query.transactionId) ??
        (query.transactionId ? c2bs.get(query.transactionId) : undefined));
    const base = {
      OriginatorConversationID: query.originatorConversationId,
      ConversationID: query.conversationId,
      TransactionID: `${receiptNumber().slice(0, 3)}0000000`,
      ReferenceData: {
        ReferenceItem: query.occasion ? { Key: 'Occasion', Value: query.occasion } : { Key: 'Occasion' },
      },
    };
    let result: Record<string, unknown>;
    if (!query.credentialOk) {
      result = { ResultType: 0, ResultCode: 2001, ResultDesc: 'The initiator information is invalid.', ...base };
    } else if (!found || found.state === 'queued') {
      // Not Safaricom's (its page lists only 0 and SFC_IC0003): the simulator's stand-in for "no
      // such transaction", a string code as Daraja sometimes sends.
      result = {
        ResultType: 0,
        ResultCode: 'R000002',
        ResultDesc: 'The OriginatorConversationID cannot be found.',
        ...base,
      };
    } else {
      const status = found.state === 'completed' ? 'Completed' : found.state === 'failed' ? 'Failed' : 'Expired';
      const parameters: { Key: string; Value?: unknown }[] = [
        { Key: 'DebitPartyName', Value: `${found.partyA} - Deni` },
        { Key: 'CreditPartyName', Value: `${found.phoneNumber} - JOHN DOE` },
        { Key: 'OriginatorConversationID', Value: found.originatorConversationId },
        { Key: 'InitiatedTime', Value: nairobiTimestamp(found.requestedAt) },
        { Key: 'DebitAccountType', Value: 'Utility Account' },
        { Key: 'DebitPartyCharges', Value: '' },
        { Key: 'TransactionReason' },
        { Key: 'ReasonType', Value: 'Business Payment to Customer via API' },
        { Key: 'TransactionStatus', Value: status },
        { Key: 'FinalisedTime', Value: nairobiTimestamp(found.finishedAt ?? new Date()) },
        { Key: 'Amount', Value: String(found.amount) },
        { Key: 'ConversationID', Value: found.conversationId },
        ...(found.receipt ? [{ Key: 'ReceiptNo', Value: found.receipt }] : []),
      ];
      result = {
        ResultType: 0,
        ResultCode: 0,
        ResultDesc: SUCCESS_DESC,
        ...base,
        ResultParameters: { ResultParameter: parameters },
      };
    }
    return post('transaction_status', query.resultUrl, darajaJson({ Result: result }));
  }

  // ------------------------------------------------------------------------------------------
  // Control routes

  app.post('/simulator/outcomes', async (request, reply) => {
    const body = asObject(request.body);
    const phoneNumber = scalar(body.phoneNumber);
    if (!MSISDN.test(phoneNumber)) return reply.status(400).send({ error: 'phoneNumber must look like 254712345678' });
    if (!SIMULATOR_OUTCOMES.includes(body.outcome as SimulatorOutcome)) {
      return reply.status(400).send({ error: `outcome must be one of ${SIMULATOR_OUTCOMES.join(', ')}` });
    }
    outcomes.set(phoneNumber, body.outcome as SimulatorOutcome);
    return reply.send({ phoneNumber, outcome: body.outcome });
  });

  app.get('/simulator/stk/pending', async (request, reply) => {
    const { phoneNumber } = request.query as { phoneNumber?: string };
    return reply.send(pendingStkPushes(phoneNumber || undefined));
  });

  app.post('/simulator/stk/:checkoutRequestId/outcome', async (request, reply) => {
    const { checkoutRequestId } = request.params as { checkoutRequestId: string };
    const { outcome } = asObject(request.body);
    if (!STK_RESOLUTIONS.includes(outcome as StkResolution)) {
      return reply.status(400).send({ error: `outcome must be one of ${STK_RESOLUTIONS.join(', ')}` });
    }
    try {
      resolveStkPush(checkoutRequestId, outcome as StkResolution);
    } catch (e) {
      return reply.status(pushes.has(checkoutRequestId) ? 409 : 404).send({ error: (e as Error).message });
    }
    return reply.send({ checkoutRequestId, outcome });
  });

  app.post('/simulator/c2b', async (request, reply) => {
    const body = asObject(request.body);
    const amount = wholeAmount(body.amount);
    if (typeof body.billRefNumber !== 'string' || amount === null) {
      return reply.status(400).send({ error: 'billRefNumber (string) and amount (whole shillings) are required' });
    }
    if (body.msisdn !== undefined && !MSISDN.test(scalar(body.msisdn)))
      return reply.status(400).send({ error: 'msisdn must look like 254712345678' });
    try {
      const result = await c2b({
        billRefNumber: body.billRefNumber,
        amount,
        msisdn: body.msisdn === undefined ? undefined : scalar(body.msisdn),
        shortCode: body.shortCode === undefined ? undefined : scalar(body.shortCode),
      });
      return reply.send(result);
    } catch (e) {
      return reply.status(409).send({ error: (e as Error).message });
    }
  });

  app.get('/simulator/certificate', async (_request, reply) =>
    reply.type('application/x-pem-file').send(certificatePem),
  );

  app.get('/simulator/log', async (_request, reply) =>
    reply.send({
      outcomes: Object.fromEntries(outcomes),
      requests: requests.map(({ at, method, path, body }) => ({ at, method, path, body: redactRequestBody(body) })),
      callbacks,
    }),
  );

  // What a restart interrupted goes on: undecided pushes (but held ones) and queued payments are
  // decided after the usual delay, as if the customer answered now.
  for (const push of pushes.values()) {
    const outcome = push.outcome;
    if (!push.result && outcome !== 'hold') later(settings.callbackDelayMs, () => decideStk(push, outcome));
  }
  for (const transaction of b2cs.values()) {
    if (transaction.state === 'queued') later(settings.callbackDelayMs, () => decideB2c(transaction));
  }
  // The key behind the certificate is kept from the start: clients encrypt with it before asking anything.
  persist();

  if (owned) await root.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });

  return {
    get url() {
      return serverUrl(root);
    },
    certificatePem,
    keyPair,
    requests,
    callbacks,
    setOutcome(phoneNumber, outcome) {
      if (!SIMULATOR_OUTCOMES.includes(outcome)) throw new Error(`unknown outcome ${String(outcome)}`);
      outcomes.set(phoneNumber, outcome);
      persist();
    },
    pendingStkPushes,
    resolveStkPush,
    injectFault(fault) {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    clearFaults(path) {
      for (const fault of faults) if (path === undefined || fault.path === path) fault.left = 0;
    },
    setResponseDelay(ms) {
      responseDelayMs = ms;
    },
    invalidateTokens() {
      token = undefined;
      persist();
    },
    c2b,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      closing.abort();
      if (owned) await root.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------

/** Whether a request body names this phone number (STK: PhoneNumber, PartyA; B2C: PartyB). */
function namesPhone(body: unknown, phoneNumber: string): boolean {
  const fields = asObject(body);
  return ['PhoneNumber', 'PartyA', 'PartyB'].some((key) => scalar(fields[key]) === phoneNumber);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function redactRequestBody(body: unknown): unknown {
  if (typeof body !== 'object' || body === null) return body;
  const copy: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const key of ['Password', 'SecurityCredential']) if (key in copy) copy[key] = '[redacted]';
  return copy;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What a simulator with a `stateFile` keeps on disk. */
interface PersistedState {
  version: 1;
  privateKeyPem: string;
  token?: { value: string; expiresAt: number };
  outcomes: [string, SimulatorOutcome][];
  pushes: StkPush[];
  b2cIds: string[];
  b2cs: B2cTransaction[];
  /** Paybill payments Transaction Status can answer about (absent from files written before). */
  c2bs?: PaidRecord[];
  registrations: [string, { responseType: string; confirmationUrl: string; validationUrl: string }][];
  lastRegistered?: string;
  utilityFundsCents: number;
}

/** The saved state, or undefined when there is none yet; a file of another version is refused. */
function readState(file: string): PersistedState | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const state = JSON.parse(text) as PersistedState;
  if (state.version !== 1) throw new Error(`${file}: unknown simulator state version ${String(state.version)}`);
  return state;
}
