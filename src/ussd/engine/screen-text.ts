/**
 * USSD screens travel as GSM 03.38 7-bit text: the basic set and the extension table. Anything
 * else (emoji, curly quotes, other scripts) is replaced, so a screen never silently turns into
 * UCS-2 and loses half its length.
 */
const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM7_EXTENSION = '^{}\\[~]|€';
const GSM7 = new Set([...GSM7_BASIC, ...GSM7_EXTENSION]);

const REPLACEMENTS: Record<string, string> = {
  '‘': "'",
  '’': "'",
  '“': '"',
  '”': '"',
  '–': '-',
  '—': '-',
  '…': '...',
  '\u00a0': ' ',
};

export function isGsm7(text: string): boolean {
  return [...text].every((c) => GSM7.has(c));
}

export function toGsm7(text: string): string {
  return [...text].map((c) => (GSM7.has(c) ? c : (REPLACEMENTS[c] ?? '?'))).join('');
}

/**
 * Fits a screen into `max` characters: keeps the footer (navigation) whole and drops lines from
 * the end of the body, then cuts the last line, marking the cut with '..'.
 */
export function fitScreen(body: string, footer: string, max: number): string {
  const join = (b: string) => (footer ? (b ? `${b}\n${footer}` : footer) : b);
  let text = join(body);
  if (text.length <= max) return text;
  const lines = body.split('\n');
  while (lines.length > 1 && join(lines.join('\n')).length > max) lines.pop();
  text = join(lines.join('\n'));
  if (text.length <= max) return text;
  const room = Math.max(0, max - (footer ? footer.length + 1 : 0) - 2);
  return join(`${lines.join('\n').slice(0, room)}..`).slice(0, max);
}
