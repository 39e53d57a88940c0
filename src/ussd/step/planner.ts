import { createHmac } from 'node:crypto';
import type { InboundUssd, UssdReply } from '../dialects.js';
import type { ScreenId } from '../engine/types.js';
import type { UssdSession } from '../ussd-session.store.js';

/** Inputs to run: a new session (`start`) or the stored one going on (`continue`). */
export interface RunPlan {
  kind: 'start' | 'continue';
  inputs: string[];
  /** The stored session the step goes on from; null for a new one. */
  session: UssdSession | null;
}

/** What a request asks for, decided from the request and the stored session alone. */
export type Plan =
  | RunPlan
  /** The gateway closed the session: it is forgotten, and nobody sees a screen. */
  | { kind: 'close'; screen: ScreenId | 'NONE' }
  /** A retry, or a request to a session already over: the stored reply again, nothing runs twice. */
  | { kind: 'replay'; reply: UssdReply | null; screen: ScreenId | 'NONE' };

/**
 * Identifies an accumulated text without keeping it: it carries PINs, so the fingerprint is keyed
 * with the server's pepper (a plain hash of a short menu path and a PIN could be reversed).
 */
export function textFingerprint(pepper: string, text: string): string {
  return createHmac('sha256', pepper).update(`ussd-text:${text}`).digest('base64url');
}

/**
 * The step a request asks for. `fingerprint` is the accumulated text's (taken once by the caller,
 * which remembers it with the step); `fingerprintOf` takes that of a prefix.
 */
export function planStep(
  stored: UssdSession | null,
  inbound: InboundUssd,
  fingerprint: string | undefined,
  fingerprintOf: (text: string) => string,
): Plan {
  let session = stored;
  if (inbound.isClosing) return { kind: 'close', screen: session?.screen ?? 'NONE' };
  if (session?.ended) {
    // The journey is over. A redelivered request gets the last screen again and nothing runs
    // twice; only a new dial (a gateway that reuses session ids) starts afresh.
    const redial = inbound.isNewSession || (inbound.textMode === 'latest' && inbound.text === '' && !inbound.requestId);
    if (!redial) return { kind: 'replay', reply: session.lastReply ?? null, screen: session.screen };
    session = null;
  }
  if (session && inbound.isNewSession) session = null;

  const text = inbound.text;
  if (inbound.textMode === 'dial') return { kind: 'start', inputs: text ? text.split('*') : [], session };
  if (inbound.textMode === 'latest') {
    if (session && inbound.requestId && inbound.requestId === session.lastRequestId && session.lastReply) {
      return { kind: 'replay', reply: session.lastReply, screen: session.screen };
    }
    if (!session) return { kind: 'start', inputs: text ? [text] : [], session };
    return { kind: 'continue', inputs: [text], session };
  }
  // Africa's Talking: `text` accumulates every input joined by '*'.
  if (!session) return { kind: 'start', inputs: text ? text.split('*') : [], session }; // a shortcut dial
  const last = session.lastText;
  if (last && last.hash === fingerprint && session.lastReply) {
    return { kind: 'replay', reply: session.lastReply, screen: session.screen };
  }
  if (last && text.length > last.length && fingerprintOf(text.slice(0, last.length)) === last.hash) {
    // The new input is what follows the previous text (it may itself contain '*').
    return { kind: 'continue', inputs: [last.length === 0 ? text : text.slice(last.length + 1)], session };
  }
  return { kind: 'continue', inputs: [text.slice(text.lastIndexOf('*') + 1)], session };
}
