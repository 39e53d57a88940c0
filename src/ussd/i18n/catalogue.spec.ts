import { LOAN_STATUSES } from '../../loans/loan-state.js';
import { TRANSFER_KINDS } from '../../wallet/transfer.entity.js';
import { isGsm7 } from '../engine/screen-text.js';
import { en } from './en.js';
import { sw } from './sw.js';
import { BILINGUAL_KEYS, hasMessage, inLanguageOrBoth, translator } from './translate.js';

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

/** Texts of placeholders, punctuation and the currency only: the same in both languages on purpose. */
const SAME_IN_BOTH = new Set(['approve.line', 'tx.line']);

/** The longest value each placeholder takes on a screen. */
const LONGEST: Record<string, string | number> = {
  n: 3,
  other: '0722 000 000',
  lender: '0722 000 000',
  amount: '+250000',
  outstanding: 250_000,
  repayment: 250_000,
  balance: 250_000,
  needed: 250_000,
  owing: 9_999_999,
  owed: 9_999_999,
  min: 100,
  max: 250_000,
  left: 2,
  minutes: 30,
  date: '31/12',
  status: 'Umeisha muda',
  kind: 'Imetolewa',
  time: '23:59',
  reference: 'K7Q2M9XA3D',
};

describe('USSD message catalogues', () => {
  const keys = Object.keys(en).sort();

  it('English and Kiswahili have the same keys and the same placeholders', () => {
    expect(Object.keys(sw).sort()).toEqual(keys);
    const mismatched = keys.filter(
      (k) =>
        JSON.stringify(placeholders(en[k as keyof typeof en])) !==
        JSON.stringify(placeholders(sw[k as keyof typeof sw])),
    );
    expect(mismatched).toEqual([]);
  });

  it('every Kiswahili text is translated (identical to English only where it holds no words)', () => {
    const identical = keys.filter((k) => en[k as keyof typeof en] === sw[k as keyof typeof sw]);
    expect(identical.filter((k) => !SAME_IN_BOTH.has(k))).toEqual([]);
    for (const k of SAME_IN_BOTH) expect(en[k as keyof typeof en].replace(/\{\w+\}|Ksh/g, '')).not.toMatch(/[a-z]{2}/i);
  });

  it('every text is GSM-7 and fits a screen on its own with the longest values', () => {
    const problems: string[] = [];
    for (const language of ['en', 'sw'] as const) {
      const t = translator(language);
      for (const key of keys) {
        if (!hasMessage(key)) throw new Error(key);
        const text = t(key, LONGEST);
        if (!isGsm7(text)) problems.push(`${language} ${key}: not GSM-7`);
        if (/[{}]/.test(text)) problems.push(`${language} ${key}: unknown placeholder in ${text}`);
        // Room for the navigation footer ("0. Back 00. Home" / "0. Rudi 00. Mwanzo") and a reason line.
        if (text.length > 160 - 19 - 20) problems.push(`${language} ${key}: ${text.length} characters`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('fits each screen that may be shown before the language is known on one screen in both languages', () => {
    for (const key of BILINGUAL_KEYS) {
      const both = inLanguageOrBoth(undefined, key);
      expect(both).toBe(`${en[key]}\n${sw[key]}`);
      expect({ key, fits: both.length <= 160, gsm7: isGsm7(both) }).toEqual({ key, fits: true, gsm7: true });
      expect(inLanguageOrBoth('sw', key)).toBe(sw[key]);
      expect(inLanguageOrBoth('en', key)).toBe(en[key]);
    }
  });

  it('has a name for every loan status and every ledger entry kind', () => {
    for (const status of LOAN_STATUSES) expect(hasMessage(`status.${status}`)).toBe(true);
    for (const kind of TRANSFER_KINDS) expect(hasMessage(`tx.kind.${kind}`)).toBe(true);
  });
});
