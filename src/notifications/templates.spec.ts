import { renderTemplate, TEMPLATE_NAMES, type TemplateParams } from './templates.js';

// GSM 03.38 basic character set (plus the extension table's common symbols).
const GSM7 = /^[A-Za-z0-9 @£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!"#¤%&'()*+,\-./:;<=>?¡ÄÖÑÜ§¿äöñüà^{}\\[~\]|€]*$/;

const SAMPLE: { [T in keyof TemplateParams]: TemplateParams[T] } = {
  'pin.changed': {},
  'pin.locked': { minutes: 30 },
  'auth.otp': { code: '123456', minutes: 5 },
};

describe('SMS templates', () => {
  it.each(TEMPLATE_NAMES.flatMap((t) => [[t, 'en'] as const, [t, 'sw'] as const]))('%s in %s fits one GSM-7 SMS', (name, language) => {
    const text = renderTemplate(name, language, SAMPLE[name] as never);
    expect(text.length).toBeGreaterThan(10);
    expect(text.length).toBeLessThanOrEqual(160);
    expect(text).toMatch(GSM7);
    expect(text).not.toMatch(/undefined|\{|\}/);
  });

  it('differs between English and Kiswahili', () => {
    for (const name of TEMPLATE_NAMES) {
      expect(renderTemplate(name, 'en', SAMPLE[name] as never)).not.toBe(renderTemplate(name, 'sw', SAMPLE[name] as never));
    }
  });
});
