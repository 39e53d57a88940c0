import type { Language } from '../../common/language.js';
import type { UssdReply } from '../dialects.js';
import { fitScreen, toGsm7 } from '../engine/screen-text.js';
import type { ScreenId } from '../engine/types.js';
import { inLanguageOrBoth, type BilingualKey } from '../i18n/translate.js';

export interface HandledUssd {
  reply: UssdReply;
  /** The screen shown (or the last one, for an END), for the seed's test endpoint. */
  screen: ScreenId | 'NONE';
}

/** What is known of the subscriber so far in a request: once identified, their language. */
export interface Known {
  language?: Language;
}

/** A refusal that ends the session, in the subscriber's language if known, else in English and Kiswahili. */
export function refusal(key: BilingualKey, language: Language | undefined, maxChars: number): HandledUssd {
  const message = fitScreen(toGsm7(inLanguageOrBoth(language, key)), '', maxChars);
  return { reply: { message, end: true }, screen: 'NONE' };
}
