import { fitOneSms, gsm7Length, isGsm7, shortenGsm7, SMS_MAX_SEPTETS, toGsm7 } from './sms-text.js';

describe('SMS length rule: one GSM-7 SMS, at most 160 septets', () => {
  it('leaves a GSM-7 text of up to 160 septets as it is', () => {
    const exact = 'a'.repeat(160);
    expect(fitOneSms(exact)).toBe(exact);
    expect(fitOneSms('Deni: your code is 482913. It expires in 5 minutes. Never share it.')).toBe(
      'Deni: your code is 482913. It expires in 5 minutes. Never share it.',
    );
    // The alphabet's own accented letters stay.
    expect(fitOneSms('Café Ñoño: é è ü ù Ç')).toBe('Café Ñoño: é è ü ù Ç');
    // Others lose their accent (ú is not in the alphabet; ù is).
    expect(fitOneSms('Ñandú')).toBe('Ñandu');
  });

  it('shortens a longer text on a word boundary and ends it with "..."', () => {
    const words = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' '); // 269 characters
    const fitted = fitOneSms(words);
    expect(fitted.length).toBeLessThanOrEqual(SMS_MAX_SEPTETS);
    expect(fitted.length).toBeGreaterThan(SMS_MAX_SEPTETS - 12);
    expect(fitted.endsWith('...')).toBe(true);
    // Whole words only: what precedes the ellipsis is a prefix of the text ending at a word end.
    const kept = fitted.slice(0, -3);
    expect(words.startsWith(kept)).toBe(true);
    expect(words[kept.length]).toBe(' ');
    expect(fitOneSms(fitted)).toBe(fitted); // idempotent
  });

  it('cuts mid-word when the last word is very long, rather than lose most of the text', () => {
    const text = `Deni: ${'x'.repeat(300)}`;
    const fitted = fitOneSms(text);
    expect(fitted).toBe(`Deni: ${'x'.repeat(151)}...`);
    expect(fitted.length).toBe(160);
  });

  it('counts extension characters (€ [ ] { } ^ ~ \\ |) as two septets', () => {
    expect(gsm7Length('€')).toBe(2);
    expect(gsm7Length('a{b}')).toBe(6);
    const euros = '€'.repeat(100); // 200 septets
    const fitted = shortenGsm7(euros);
    expect(gsm7Length(fitted)).toBeLessThanOrEqual(160);
    expect(fitted).toBe(`${'€'.repeat(78)}...`);
    expect(shortenGsm7('€'.repeat(80))).toBe('€'.repeat(80)); // exactly 160 septets
  });

  it('replaces characters outside GSM-7, which would turn the SMS into 70-character UCS-2', () => {
    expect(isGsm7('Wanjiku “Shiku” – ok…')).toBe(false);
    expect(toGsm7('Wanjiku “Shiku” – ok…')).toBe('Wanjiku "Shiku" - ok...');
    expect(toGsm7('François Dvořák Zoë')).toBe('Francois Dvorak Zoe');
    expect(toGsm7('paid 🎉 ✓')).toBe('paid ? ?');
    expect(toGsm7('tab\there\u00a0nbsp')).toBe('tab here nbsp');
    const fitted = fitOneSms(`Deni: ${'Émilie “Mimi” Ngugi 🙂 '.repeat(12)}`);
    expect(isGsm7(fitted)).toBe(true);
    expect(gsm7Length(fitted)).toBeLessThanOrEqual(160);
    expect(fitted.endsWith('...')).toBe(true);
  });
});
