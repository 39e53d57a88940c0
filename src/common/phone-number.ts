import { parsePhoneNumberFromString } from 'libphonenumber-js/core';
// The full metadata: it is the one that knows mobile from fixed-line numbers.
import metadata from 'libphonenumber-js/max/metadata';
import { DomainError } from './domain-error.js';

/** A Kenyan mobile number as Deni stores it: international form without '+', e.g. 254712345678. */
export type Msisdn = string & { readonly __brand: 'Msisdn' };

export type PhoneRejection =
  'PHONE.REQUIRED' | 'PHONE.NOT_KENYAN' | 'PHONE.BAD_FORMAT' | 'PHONE.NOT_MOBILE' | 'PHONE.INVALID';

export type PhoneParseResult = { ok: true; msisdn: Msisdn } | { ok: false; code: PhoneRejection; reason: string };

const ACCEPTED_FORM = /^(?:\+254|254|0)[17]\d{8}$/;
const SEPARATORS = /[\s\-().]/g;

/**
 * The one phone normaliser. Accepts `+2547…`, `2547…`, `07…`, `01…` (spaces and dashes allowed)
 * and asks libphonenumber whether the number is a real Kenyan mobile number.
 */
export function parseKenyanMobile(input: unknown): PhoneParseResult {
  // A pure function of its input, and libphonenumber is costly on every USSD step: remember
  // the answers for numbers already seen (bounded; cleared when full).
  if (typeof input === 'string') {
    const known = seen.get(input);
    if (known) return known;
  }
  const result = parse(input);
  if (typeof input === 'string' && input.length <= 32) {
    if (seen.size >= SEEN_MAX) seen.clear();
    seen.set(input, Object.freeze(result));
  }
  return result;
}

const SEEN_MAX = 10_000;
const seen = new Map<string, PhoneParseResult>();

function parse(input: unknown): PhoneParseResult {
  if (typeof input !== 'string' || input.trim() === '') {
    return { ok: false, code: 'PHONE.REQUIRED', reason: 'Enter a phone number' };
  }
  const compact = input.replace(SEPARATORS, '');
  if (compact.length > 20) {
    return { ok: false, code: 'PHONE.BAD_FORMAT', reason: 'Too long for a phone number' };
  }
  if (/^\+(?!254)\d/.test(compact) || /^00/.test(compact)) {
    return { ok: false, code: 'PHONE.NOT_KENYAN', reason: 'Only Kenyan numbers (+254) are supported' };
  }
  if (!ACCEPTED_FORM.test(compact)) {
    return {
      ok: false,
      code: 'PHONE.BAD_FORMAT',
      reason: 'Use a Kenyan mobile number like 0712345678 or +254712345678',
    };
  }
  const parsed = parsePhoneNumberFromString(
    compact.startsWith('0') ? compact : `+${compact.replace(/^\+/, '')}`,
    'KE',
    metadata,
  );
  if (!parsed || parsed.country !== 'KE' || !parsed.isValid()) {
    return { ok: false, code: 'PHONE.INVALID', reason: 'This is not a valid Kenyan number' };
  }
  const type = parsed.getType();
  if (type !== 'MOBILE' && type !== 'FIXED_LINE_OR_MOBILE') {
    return { ok: false, code: 'PHONE.NOT_MOBILE', reason: 'Use a mobile number, not a landline' };
  }
  return { ok: true, msisdn: parsed.number.slice(1) as Msisdn };
}

/** As parseKenyanMobile, but throws a DomainError (for services and DTO transforms). */
export function toMsisdn(input: unknown): Msisdn {
  const result = parseKenyanMobile(input);
  if (!result.ok) throw new DomainError(result.code, 'invalid', result.reason, { field: 'phoneNumber' });
  return result.msisdn;
}

/** The number as a subscriber types it on a keypad: `0712345678`. */
export function localDigits(msisdn: Msisdn | string): string {
  return /^254\d{9}$/.test(msisdn) ? `0${msisdn.slice(3)}` : msisdn;
}

/**
 * The one display form of a number on screens and in SMS: `0712 345 678`, four, three and three
 * digits, as Kenyans read a number and as Safaricom prints it. libphonenumber's national format
 * gives `0712 345678`, which is not that, hence the slicing. Takes a stored number or any form
 * parseKenyanMobile accepts (`+2547…`, `2547…`, `07…`, `01…`); anything else is returned as it is.
 */
export function formatLocal(msisdn: Msisdn | string): string {
  const digits = localDigits(msisdn.replace(SEPARATORS, '').replace(/^\+/, ''));
  if (!/^0[17]\d{8}$/.test(digits)) return msisdn;
  return `${digits.slice(0, 4)} ${digits.slice(4, 7)} ${digits.slice(7)}`;
}
