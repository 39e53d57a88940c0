/**
 * The length rule for SMS texts: **every Deni SMS is exactly one GSM-7 SMS** (at most 160
 * septets). It is applied once, when the text is written into the outbox
 * (NotificationsService.notify), so the row holds exactly what is sent, whatever the provider.
 *
 * Why one SMS, not a concatenated (multi-part) one: the templates are written to fit one SMS (a
 * spec checks every template with its longest values), so only an unusual value (a long name, an
 * unforeseen refusal code) can push a text over. Paying for, and relying on the handset to
 * reassemble, a second part for that is worse than a visibly shortened text: many feature phones
 * show the parts separately or out of order. Two steps, in this order:
 *
 * 1. **GSM-7 only.** A single character outside the GSM 03.38 alphabet (an emoji, a curly quote)
 *    would switch the whole SMS to UCS-2, where one SMS holds only 70 characters. Such characters
 *    are replaced: accented letters lose their accent (ç → c, unless the alphabet has them, like
 *    é or Ç), typographic quotes, dashes, spaces and the ellipsis get their plain forms, and
 *    anything else becomes `?`.
 * 2. **At most 160 septets.** A longer text is cut on a word boundary (or mid-word when the last
 *    word is very long) and ends with `...`. Characters of the extension table (`€ [ ] { } ^ ~ \ |`)
 *    count twice, as they do on the air.
 */

/** GSM 03.38 basic character set: one septet each. */
const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
/** GSM 03.38 extension table: an escape septet plus one, so two septets each. */
const GSM7_EXTENSION = new Set('\f^{}\\[~]|€');

/** The most septets one SMS carries. */
export const SMS_MAX_SEPTETS = 160;

const ELLIPSIS = '...';

/** Plain forms for common characters outside GSM-7. */
const REPLACEMENTS: Record<string, string> = {
  '\u2018': "'", // ‘
  '\u2019': "'", // ’
  '\u201A': "'",
  '\u2032': "'",
  '\u201C': '"', // “
  '\u201D': '"', // ”
  '\u201E': '"',
  '\u2033': '"',
  '\u00AB': '"', // «
  '\u00BB': '"', // »
  '\u2010': '-',
  '\u2011': '-',
  '\u2012': '-',
  '\u2013': '-', // –
  '\u2014': '-', // —
  '\u2212': '-',
  '\u2026': '...', // …
  '\u00A0': ' ', // no-break space
  '\u2007': ' ',
  '\u202F': ' ',
  '\t': ' ',
  '\u00B4': "'",
  '`': "'",
};

export function isGsm7(text: string): boolean {
  for (const ch of text) if (!GSM7_BASIC.has(ch) && !GSM7_EXTENSION.has(ch)) return false;
  return true;
}

/** Septets the text takes in GSM-7 (extension characters count two). Assumes `isGsm7(text)`. */
export function gsm7Length(text: string): number {
  let n = 0;
  for (const ch of text) n += GSM7_EXTENSION.has(ch) ? 2 : 1;
  return n;
}

/** Step 1: the text with every character outside GSM-7 replaced by a GSM-7 stand-in. */
export function toGsm7(text: string): string {
  let out = '';
  for (const ch of text) {
    if (GSM7_BASIC.has(ch) || GSM7_EXTENSION.has(ch)) {
      out += ch;
      continue;
    }
    const replacement = REPLACEMENTS[ch];
    if (replacement !== undefined) {
      out += replacement;
      continue;
    }
    // Accented letters: the base letter (ç → c, ő → o), when it is in the alphabet.
    const base = ch.normalize('NFD').replace(/\p{M}+/gu, '');
    out += base.length > 0 && [...base].every((c) => GSM7_BASIC.has(c)) ? base : '?';
  }
  return out;
}

/** Step 2: the GSM-7 text cut to `max` septets, ending with `...` when it had to be cut. */
export function shortenGsm7(text: string, max = SMS_MAX_SEPTETS): string {
  if (gsm7Length(text) <= max) return text;
  const room = max - ELLIPSIS.length;
  let cut = '';
  let used = 0;
  for (const ch of text) {
    const w = GSM7_EXTENSION.has(ch) ? 2 : 1;
    if (used + w > room) break;
    cut += ch;
    used += w;
  }
  // Back to the last word boundary, unless that throws away more than a quarter of the room.
  const boundary = cut.search(/\s\S*$/);
  if (boundary >= room * 0.75) cut = cut.slice(0, boundary);
  return cut.replace(/[\s.,;:!?-]+$/, '') + ELLIPSIS;
}

/** The rule as a whole: what the outbox stores and the provider sends. Idempotent. */
export function fitOneSms(text: string): string {
  return shortenGsm7(toGsm7(text));
}
