import type { Language } from '../users/user.entity.js';

/**
 * Every SMS Deni sends, in English and Kiswahili. Parameters are typed per template; money is
 * passed already formatted by the caller's formatter so that every channel shows the same text.
 */
export interface TemplateParams {
  'pin.changed': Record<string, never>;
  'pin.locked': { minutes: number };
  'auth.otp': { code: string; minutes: number };
}

export type TemplateName = keyof TemplateParams;

type Renderers = { [T in TemplateName]: Record<Language, (p: TemplateParams[T]) => string> };

const TEMPLATES: Renderers = {
  'pin.changed': {
    en: () => 'Deni: your PIN was changed. If this was not you, call customer care now.',
    sw: () => 'Deni: PIN yako imebadilishwa. Kama si wewe, piga simu huduma kwa wateja sasa.',
  },
  'pin.locked': {
    en: (p) => `Deni: too many wrong PINs. Your PIN is locked for ${p.minutes} minutes.`,
    sw: (p) => `Deni: PIN zisizo sahihi zimezidi. PIN yako imefungwa kwa dakika ${p.minutes}.`,
  },
  'auth.otp': {
    en: (p) => `Deni: your code is ${p.code}. It expires in ${p.minutes} minutes. Never share it.`,
    sw: (p) => `Deni: nambari yako ni ${p.code}. Itaisha baada ya dakika ${p.minutes}. Usimpe mtu.`,
  },
};

export const TEMPLATE_NAMES = Object.keys(TEMPLATES) as TemplateName[];

export function renderTemplate<T extends TemplateName>(name: T, language: Language, params: TemplateParams[T]): string {
  const byLanguage = TEMPLATES[name] as Record<Language, (p: TemplateParams[T]) => string>;
  return (byLanguage[language] ?? byLanguage.en)(params);
}
