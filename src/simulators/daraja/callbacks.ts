import type { DarajaContext } from './context.js';
import type { SimulatorOutcome } from './outcomes.js';
import type { SimulatorCallback, SimulatorCallbackKind } from './state.js';

/**
 * Sending result callbacks (STK, B2C, C2B, Transaction Status) as Daraja does: one POST of JSON,
 * recorded with its answer; a failed one is not retried.
 */

/** Sends one callback and records it (in `callbacks`, before it is sent). */
export async function post(
  ctx: DarajaContext,
  kind: SimulatorCallbackKind,
  url: string,
  text: string,
): Promise<SimulatorCallback> {
  const record: SimulatorCallback = { at: new Date(), kind, url, text };
  ctx.callbacks.push(record);
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: text,
      signal: AbortSignal.any([AbortSignal.timeout(10_000), ctx.closing]),
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
export function deliver(
  ctx: DarajaContext,
  kind: SimulatorCallbackKind,
  url: string,
  text: string,
  outcome: SimulatorOutcome,
): void {
  void post(ctx, kind, url, text);
  if (outcome === 'duplicate_callback')
    ctx.later(ctx.settings.duplicateDelayMs, () => post(ctx, kind, url, text).then(() => undefined));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
