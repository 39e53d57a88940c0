import type { FastifyInstance } from 'fastify';
import { MPESA_DEVELOPMENT_DEFAULTS } from '../../config/app-config.js';
import { serverUrl, simulatorScope } from '../shared-server.js';
import { registerB2c, resumeB2cPayments } from './b2c.js';
import { c2b, registerC2b, type C2bPayment, type C2bSimulation } from './c2b.js';
import { createDarajaContext } from './context.js';
import { registerControlRoutes } from './control.js';
import { registerFaults, type SimulatorFault } from './faults.js';
import { darajaError } from './format.js';
import { registerOAuth } from './oauth.js';
import { SIMULATOR_OUTCOMES, type PendingStkPush, type SimulatorOutcome, type StkResolution } from './outcomes.js';
import type { KeyPair, SimulatorCallback, SimulatorRequest } from './state.js';
import { pendingStkPushes, registerStk, resolveStkPush, resumeStkPushes } from './stk.js';
import { registerTransactionStatus } from './transaction-status.js';

export {
  SIMULATOR_OUTCOMES,
  STK_RESOLUTIONS,
  type PendingStkPush,
  type SimulatorOutcome,
  type StkResolution,
} from './outcomes.js';
export type { C2bPayment, C2bSimulation } from './c2b.js';
export type { SimulatorFault } from './faults.js';
export type { SimulatorCallback, SimulatorCallbackKind, SimulatorRequest } from './state.js';

/**
 * A local Daraja: the same endpoints, validation, error envelopes and callback bodies as
 * Safaricom's (modelled on the published samples in test/fixtures/providers), with outcomes
 * scripted per phone number. Deni's M-PESA in development (the simulators process,
 * src/simulators/main.ts) and in tests (test/support/simulators.ts), always outside Deni's process.
 *
 * Control routes (no auth; the server listens on 127.0.0.1): `POST /simulator/outcomes
 * {phoneNumber, outcome}`, `POST /simulator/c2b {billRefNumber, amount, msisdn?, shortCode?}`,
 * `GET /simulator/stk/pending?phoneNumber=` (STK pushes not decided yet), `POST
 * /simulator/stk/:checkoutRequestId/outcome {outcome}` (decide one now, e.g. one held by `hold`),
 * `GET /simulator/certificate` (the PEM that encrypts SecurityCredential), `GET /simulator/log`.
 * Besides Deni's own calls it answers what third-party Daraja clients call: B2C on its v1 path and
 * the sandbox's C2B simulate (`POST /mpesa/c2b/v1/simulate`).
 *
 * This file composes it; each Daraja product registers its routes against one shared context
 * (context.ts, with the state of state.ts): oauth.ts, stk.ts, c2b.ts, b2c.ts,
 * transaction-status.ts, with callbacks.ts sending their results, faults.ts recording requests
 * and misbehaving on demand, and control.ts the control routes.
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

export interface DarajaSimulator {
  url: string;
  /** X.509 certificate PEM whose key encrypts SecurityCredential (as Safaricom's certificate does). */
  certificatePem: string;
  keyPair: KeyPair;
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

export async function startDarajaSimulator(options: DarajaSimulatorOptions = {}): Promise<DarajaSimulator> {
  const ctx = await createDarajaContext(
    {
      callbackDelayMs: options.callbackDelayMs ?? 1_000,
      duplicateDelayMs: options.duplicateDelayMs ?? 100,
      tokenTtlSeconds: options.tokenTtlSeconds ?? 3599,
      consumerKey: options.consumerKey ?? MPESA_DEVELOPMENT_DEFAULTS.consumerKey,
      consumerSecret: options.consumerSecret ?? MPESA_DEVELOPMENT_DEFAULTS.consumerSecret,
      passkey: options.passkey ?? MPESA_DEVELOPMENT_DEFAULTS.passkey,
      initiatorName: options.initiatorName ?? MPESA_DEVELOPMENT_DEFAULTS.initiatorName,
      initiatorPassword: options.initiatorPassword ?? MPESA_DEVELOPMENT_DEFAULTS.initiatorPassword,
    },
    options.stateFile,
  );
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
    ctx.persist();
    done(null, payload);
  });

  const faults = registerFaults(app, ctx, options.responseDelayMs ?? 0);
  registerOAuth(app, ctx);
  registerStk(app, ctx);
  registerC2b(app, ctx);
  registerB2c(app, ctx);
  registerTransactionStatus(app, ctx);
  registerControlRoutes(app, ctx);

  // What a restart interrupted goes on: undecided pushes (but held ones) and queued payments are
  // decided after the usual delay, as if the customer answered now.
  resumeStkPushes(ctx);
  resumeB2cPayments(ctx);
  // The key behind the certificate is kept from the start: clients encrypt with it before asking anything.
  ctx.persist();

  if (owned) await root.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });

  return {
    get url() {
      return serverUrl(root);
    },
    certificatePem: ctx.certificatePem,
    keyPair: ctx.keyPair,
    requests: ctx.requests,
    callbacks: ctx.callbacks,
    setOutcome(phoneNumber, outcome) {
      if (!SIMULATOR_OUTCOMES.includes(outcome)) throw new Error(`unknown outcome ${String(outcome)}`);
      ctx.state.outcomes.set(phoneNumber, outcome);
      ctx.persist();
    },
    pendingStkPushes: (phoneNumber) => pendingStkPushes(ctx, phoneNumber),
    resolveStkPush: (checkoutRequestId, outcome) => resolveStkPush(ctx, checkoutRequestId, outcome),
    ...faults,
    invalidateTokens() {
      ctx.state.token = undefined;
      ctx.persist();
    },
    c2b: (payment) => c2b(ctx, payment),
    async close() {
      ctx.stop();
      if (owned) await root.close();
    },
  };
}
