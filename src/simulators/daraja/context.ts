import type { SimulatorOutcome } from './outcomes.js';
import { selfSignedCertificate } from './self-signed-certificate.js';
import {
  readState,
  restoreKeyPair,
  restoreState,
  writeState,
  type KeyPair,
  type SimulatorCallback,
  type SimulatorRequest,
  type SimulatorState,
} from './state.js';

/** The options of `startDarajaSimulator` with their defaults applied. */
export interface DarajaSettings {
  callbackDelayMs: number;
  duplicateDelayMs: number;
  tokenTtlSeconds: number;
  consumerKey: string;
  consumerSecret: string;
  passkey: string;
  initiatorName: string;
  initiatorPassword: string;
}

/** What every Daraja product of the simulator shares: settings, keys, state, logs and timers. */
export interface DarajaContext {
  settings: DarajaSettings;
  keyPair: KeyPair;
  /** X.509 certificate PEM whose key encrypts SecurityCredential. */
  certificatePem: string;
  state: SimulatorState;
  /** Every API request received, in order (control routes excluded). */
  requests: SimulatorRequest[];
  /** Every callback sent, in order. */
  callbacks: SimulatorCallback[];
  /** Aborted on close: callbacks still being sent give up. */
  closing: AbortSignal;
  /** Writes the state file, when there is one. */
  persist(): void;
  /** Runs `task` in `ms` (its failure ignored), unless the simulator is closed first. */
  later(ms: number, task: () => Promise<unknown> | void): void;
  /** The outcome scripted for a number: `success` unless told otherwise. */
  outcomeOf(phone: string): SimulatorOutcome;
  /** Cancels what `later` still holds and aborts callbacks in flight. */
  stop(): void;
}

/** The context of a simulator, from its state file when it has one (or as new). */
export async function createDarajaContext(settings: DarajaSettings, stateFile?: string): Promise<DarajaContext> {
  const saved = stateFile ? readState(stateFile) : undefined;
  const keyPair = await restoreKeyPair(saved);
  const certificatePem = selfSignedCertificate(keyPair, 'Deni Daraja simulator');
  const state = restoreState(saved);
  const timers = new Set<NodeJS.Timeout>();
  const closing = new AbortController();
  return {
    settings,
    keyPair,
    certificatePem,
    state,
    requests: [],
    callbacks: [],
    closing: closing.signal,
    persist() {
      if (stateFile) writeState(stateFile, keyPair.privateKey, state);
    },
    later(ms, task) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        void Promise.resolve()
          .then(task)
          .catch(() => undefined);
      }, ms);
      timers.add(timer);
    },
    outcomeOf: (phone) => state.outcomes.get(phone) ?? 'success',
    stop() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      closing.abort();
    },
  };
}
