import type { Language } from '../../common/language.js';
import { en, type MessageKey } from './en.js';
import { sw } from './sw.js';

const CATALOGUES: Record<Language, Record<MessageKey, string>> = { en, sw };

export type Params = Record<string, string | number>;
export type Translate = (key: MessageKey, params?: Params) => string;

export function translator(language: Language): Translate {
  const catalogue = CATALOGUES[language] ?? en;
  return (key, params) =>
    catalogue[key].replace(/\{(\w+)\}/g, (whole, name: string) =>
      params && name in params ? String(params[name]) : whole,
    );
}

export function hasMessage(key: string): key is MessageKey {
  return key in en;
}

/**
 * The screens that may have to be answered before the subscriber's language is known (the number
 * not identified yet, Redis unreachable). Each is written short enough to be sent in both
 * languages on one screen (the catalogue spec checks it).
 */
export const BILINGUAL_KEYS = [
  'error.badNumber',
  'error.unreadable',
  'error.unavailable',
  'error.generic',
  'error.rateLimited',
  'offline.busy',
] as const satisfies readonly MessageKey[];

export type BilingualKey = (typeof BILINGUAL_KEYS)[number];

/** The text in the subscriber's language when it is known; else English, then Kiswahili. */
export function inLanguageOrBoth(language: Language | undefined, key: BilingualKey): string {
  if (language) return translator(language)(key);
  return `${translator('en')(key)}\n${translator('sw')(key)}`;
}
