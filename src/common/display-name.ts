import { formatLocal } from './phone-number.js';

/**
 * People, not numbers: the name a subscriber sets (or, failing that, the one M-PESA reports for
 * their own number), and the one way screens and SMS show a person: "Jane W. 0712 345 678".
 *
 * A name is letters, spaces, apostrophes and hyphens, 2–40 characters, starting and ending with a
 * letter. It is kept as typed (trimmed, spaces collapsed) and shown in GSM-7 with its accents
 * folded ("Zoë" is shown "Zoe"), since a feature phone's screen and a plain SMS have no others.
 */

export const NAME_MIN_LENGTH = 2;
export const NAME_MAX_LENGTH = 40;
/** The most a name takes on a USSD screen, before the number: first name and initial. */
export const SHORT_NAME_MAX = 14;

export type NameRejection = 'NAME.REQUIRED' | 'NAME.LENGTH' | 'NAME.CHARACTERS';

export type NameParseResult = { ok: true; name: string } | { ok: false; code: NameRejection; reason: string };

/** Letters without a decomposition that NFD would strip to a base letter. */
const FOLDS: Record<string, string> = {
  ß: 'ss',
  æ: 'ae',
  Æ: 'AE',
  œ: 'oe',
  Œ: 'OE',
  ø: 'o',
  Ø: 'O',
  ł: 'l',
  Ł: 'L',
  đ: 'd',
  Đ: 'D',
  ð: 'd',
  Ð: 'D',
  þ: 'th',
  Þ: 'Th',
  ı: 'i',
};

/** Apostrophes as phones and keyboards type them, all read as the GSM-7 one. */
const APOSTROPHES = /[\u2018\u2019\u02bc\u0060\u00b4]/g;

/** The name in plain Latin letters: accents dropped, ligatures spelled out. */
export function foldName(name: string): string {
  return name
    .replace(APOSTROPHES, "'")
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/[^ -~]/g, (c) => FOLDS[c] ?? c);
}

/**
 * A display name as typed (on a keypad or in an app), or why not. Accepted when its folded form
 * is Latin letters, with single spaces, apostrophes or hyphens between them.
 */
export function parseDisplayName(input: unknown): NameParseResult {
  if (typeof input !== 'string' || !input.trim()) {
    return { ok: false, code: 'NAME.REQUIRED', reason: 'Enter a name' };
  }
  const name = input.normalize('NFC').replace(APOSTROPHES, "'").trim().replace(/\s+/g, ' ');
  const folded = foldName(name);
  const length = Math.max([...name].length, folded.length);
  if (length < NAME_MIN_LENGTH || length > NAME_MAX_LENGTH) {
    return {
      ok: false,
      code: 'NAME.LENGTH',
      reason: `A name is ${NAME_MIN_LENGTH} to ${NAME_MAX_LENGTH} characters`,
    };
  }
  if (!/^[A-Za-z](?:[A-Za-z]|[ '-](?=[A-Za-z]))*$/.test(folded)) {
    return {
      ok: false,
      code: 'NAME.CHARACTERS',
      reason: 'A name is letters, with spaces, apostrophes or hyphens between them',
    };
  }
  return { ok: true, name };
}

/** "JOHN O'NEIL-DOE" → "John O'Neil-Doe": M-PESA reports names in capitals. */
export function titleCase(name: string): string {
  return name
    .toLowerCase()
    .replace(/(^|[ '-])(\p{L})/gu, (_, sep: string, letter: string) => sep + letter.toUpperCase());
}

/**
 * First name and the last name's initial, folded, at most SHORT_NAME_MAX characters:
 * "Jane Wanjiru" → "Jane W.", "Jane" → "Jane". A first name too long is cut to fit.
 */
export function shortName(name: string, max = SHORT_NAME_MAX): string {
  const words = foldName(name).trim().split(/\s+/);
  const first = words[0] ?? '';
  if (words.length < 2) return first.slice(0, max);
  const initial = ` ${(words[words.length - 1] ?? '').charAt(0).toUpperCase()}.`;
  return first.slice(0, max - initial.length) + initial;
}

/** A person on a screen or in an SMS: "Jane W. 0712 345 678" where a name is known, else "0712 345 678". */
export function personLabel(msisdn: string, name: string | null | undefined): string {
  const number = formatLocal(msisdn);
  return name ? `${shortName(name)} ${number}` : number;
}
