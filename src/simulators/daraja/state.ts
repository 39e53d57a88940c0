import { readFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { writeStateFile } from '../state-file.js';
import type { SimulatorOutcome } from './outcomes.js';

/**
 * What the Daraja simulator holds: what it was asked and what it sent (memory only), and what
 * Daraja would never forget (the key behind the certificate, the current token, scripted outcomes,
 * STK pushes, B2C payments, registered C2B URLs, the float), which a `stateFile` keeps across
 * restarts.
 */

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

export type KeyPair = { publicKey: KeyObject; privateKey: KeyObject };

export interface StkPush {
  merchantRequestId: string;
  checkoutRequestId: string;
  phoneNumber: string;
  amount: number;
  callbackUrl: string;
  outcome: SimulatorOutcome;
  requestedAt: Date;
  result?: { code: number; desc: string };
}

export interface B2cTransaction {
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
export type PaidRecord = Omit<B2cTransaction, 'decision'>;

/** The URLs a ShortCode registered for its C2B notifications. */
export interface C2bRegistration {
  responseType: string;
  confirmationUrl: string;
  validationUrl: string;
}

/** What a restart keeps (besides the key pair). */
export interface SimulatorState {
  outcomes: Map<string, SimulatorOutcome>;
  pushes: Map<string, StkPush>;
  b2cIds: Set<string>;
  /** What M-PESA did with each B2C (by OriginatorConversationID), for Transaction Status. */
  b2cs: Map<string, B2cTransaction>;
  /** Paybill payments the simulator confirmed, by TransID (for Transaction Status). */
  c2bs: Map<string, PaidRecord>;
  registrations: Map<string, C2bRegistration>;
  lastRegistered: string | undefined;
  token: { value: string; expiresAt: number } | undefined;
  /** Cents, so the float shown in B2C results never suffers rounding. */
  utilityFundsCents: number;
}

/** What a simulator with a `stateFile` keeps on disk. */
export interface PersistedState {
  version: 1;
  privateKeyPem: string;
  token?: { value: string; expiresAt: number };
  outcomes: [string, SimulatorOutcome][];
  pushes: StkPush[];
  b2cIds: string[];
  b2cs: B2cTransaction[];
  /** Paybill payments Transaction Status can answer about (absent from files written before). */
  c2bs?: PaidRecord[];
  registrations: [string, C2bRegistration][];
  lastRegistered?: string;
  utilityFundsCents: number;
}

/** The saved state, or undefined when there is none yet; a file of another version is refused. */
export function readState(file: string): PersistedState | undefined {
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

/** The saved key pair, or a new one. */
export async function restoreKeyPair(saved: PersistedState | undefined): Promise<KeyPair> {
  if (saved) {
    const privateKey = createPrivateKey(saved.privateKeyPem);
    return { privateKey, publicKey: createPublicKey(privateKey) };
  }
  return new Promise<KeyPair>((resolve, reject) =>
    generateKeyPair('rsa', { modulusLength: 2048 }, (err, publicKey, privateKey) =>
      err ? reject(err) : resolve({ publicKey, privateKey }),
    ),
  );
}

/** The saved state (dates revived), or a new simulator's. */
export function restoreState(saved: PersistedState | undefined): SimulatorState {
  const state: SimulatorState = {
    outcomes: new Map(),
    pushes: new Map(),
    b2cIds: new Set(),
    b2cs: new Map(),
    c2bs: new Map(),
    registrations: new Map(),
    lastRegistered: undefined,
    token: undefined,
    utilityFundsCents: 100_000_000,
  };
  if (!saved) return state;
  for (const [phone, outcome] of saved.outcomes) state.outcomes.set(phone, outcome);
  for (const push of saved.pushes)
    state.pushes.set(push.checkoutRequestId, { ...push, requestedAt: new Date(push.requestedAt) });
  for (const id of saved.b2cIds) state.b2cIds.add(id);
  for (const b2c of saved.b2cs) {
    state.b2cs.set(b2c.originatorConversationId, {
      ...b2c,
      requestedAt: new Date(b2c.requestedAt),
      finishedAt: b2c.finishedAt === undefined ? undefined : new Date(b2c.finishedAt),
    });
  }
  for (const c2b of saved.c2bs ?? []) {
    state.c2bs.set(c2b.receipt ?? c2b.originatorConversationId, {
      ...c2b,
      requestedAt: new Date(c2b.requestedAt),
      finishedAt: c2b.finishedAt === undefined ? undefined : new Date(c2b.finishedAt),
    });
  }
  for (const [shortCode, registration] of saved.registrations) state.registrations.set(shortCode, registration);
  state.lastRegistered = saved.lastRegistered;
  state.token = saved.token;
  state.utilityFundsCents = saved.utilityFundsCents;
  return state;
}

/** Writes the state file (a temporary file, then a rename: a crash never leaves half a file). */
export function writeState(file: string, privateKey: KeyObject, state: SimulatorState): void {
  const persisted: PersistedState = {
    version: 1,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    token: state.token,
    outcomes: [...state.outcomes],
    pushes: [...state.pushes.values()],
    b2cIds: [...state.b2cIds],
    b2cs: [...state.b2cs.values()],
    c2bs: [...state.c2bs.values()],
    registrations: [...state.registrations],
    lastRegistered: state.lastRegistered,
    utilityFundsCents: state.utilityFundsCents,
  };
  writeStateFile(file, JSON.stringify(persisted));
}
