import type { FastifyInstance } from 'fastify';
import type { DarajaContext } from './context.js';
import { darajaError } from './format.js';
import { asObject, scalar } from './validation.js';

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

export interface FaultControls {
  injectFault(fault: SimulatorFault): void;
  /** Forgets the faults not used up yet: on this path only, or all. */
  clearFaults(path?: string): void;
  setResponseDelay(ms: number): void;
}

/**
 * Every API request is recorded, then misbehaves if told to (a fault, then the response delay);
 * control routes are neither recorded nor faulted.
 */
export function registerFaults(app: FastifyInstance, ctx: DarajaContext, responseDelayMs: number): FaultControls {
  const faults: (SimulatorFault & { left: number })[] = [];
  let delayMs = responseDelayMs;

  app.addHook('preHandler', async (request, reply) => {
    const path = request.url.split('?')[0];
    if (path.startsWith('/simulator/')) return;
    ctx.requests.push({
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
    if (delayMs > 0) await sleep(delayMs);
  });

  return {
    injectFault(fault) {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    clearFaults(path) {
      for (const fault of faults) if (path === undefined || fault.path === path) fault.left = 0;
    },
    setResponseDelay(ms) {
      delayMs = ms;
    },
  };
}

/** Whether a request body names this phone number (STK: PhoneNumber, PartyA; B2C: PartyB). */
function namesPhone(body: unknown, phoneNumber: string): boolean {
  const fields = asObject(body);
  return ['PhoneNumber', 'PartyA', 'PartyB'].some((key) => scalar(fields[key]) === phoneNumber);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
