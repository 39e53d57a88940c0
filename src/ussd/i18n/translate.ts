import type { Language } from '../../users/user.entity.js';
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
