import fc from 'fast-check';
import { formatLocal, localDigits, parseKenyanMobile, toMsisdn } from './phone-number.js';

describe(parseKenyanMobile.name, () => {
  it.each([
    ['+254712345678', '254712345678'],
    ['254712345678', '254712345678'],
    ['0712345678', '254712345678'],
    ['0110123456', '254110123456'],
    ['+254110123456', '254110123456'],
    ['254110123456', '254110123456'],
    ['0712 345 678', '254712345678'],
    ['0712-345-678', '254712345678'],
    ['+254 712 345 678', '254712345678'],
    [' 0799999999 ', '254799999999'],
  ])('accepts %p as %p', (input, expected) => {
    expect(parseKenyanMobile(input)).toEqual({ ok: true, msisdn: expected });
  });

  it.each([
    ['', 'PHONE.REQUIRED'],
    ['   ', 'PHONE.REQUIRED'],
    [undefined, 'PHONE.REQUIRED'],
    [712345678, 'PHONE.REQUIRED'],
    ['+255712345678', 'PHONE.NOT_KENYAN'], // Tanzania
    ['+1 202 555 0143', 'PHONE.NOT_KENYAN'],
    ['00254712345678', 'PHONE.NOT_KENYAN'],
    ['712345678', 'PHONE.BAD_FORMAT'], // no prefix
    ['07123', 'PHONE.BAD_FORMAT'],
    ['07123456789', 'PHONE.BAD_FORMAT'], // one digit too many
    ['+2547123456789', 'PHONE.BAD_FORMAT'],
    ['0202222222', 'PHONE.BAD_FORMAT'], // Nairobi landline: not a 07/01 form
    ['+254202222222', 'PHONE.BAD_FORMAT'],
    ['07١٢٣٤٥٦٧٨', 'PHONE.BAD_FORMAT'], // non-ASCII digits
    ['0712345abc', 'PHONE.BAD_FORMAT'],
    ["0712345678' OR 1=1", 'PHONE.BAD_FORMAT'],
    ['x'.repeat(500), 'PHONE.BAD_FORMAT'],
  ])('rejects %p with %p and a reason', (input, code) => {
    const result = parseKenyanMobile(input);
    expect(result).toMatchObject({ ok: false, code });
    expect(result.ok === false && result.reason.length).toBeGreaterThan(5);
  });

  it('gives the same number whatever form it was written in', () => {
    fc.assert(
      fc.property(fc.constantFrom('7', '1'), fc.stringMatching(/^\d{8}$/), (lead, rest) => {
        const forms = [`+254${lead}${rest}`, `254${lead}${rest}`, `0${lead}${rest}`];
        const results = forms.map(parseKenyanMobile);
        // Either every form is a valid mobile number, or none is; never two different answers.
        const ok = results.filter((r) => r.ok);
        expect(ok.length === 0 || ok.length === 3).toBe(true);
        for (const r of ok) expect(r).toEqual({ ok: true, msisdn: `254${lead}${rest}` });
      }),
      { numRuns: 500 },
    );
  });

  it('never accepts anything outside 2547XXXXXXXX / 2541XXXXXXXX', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (input) => {
        const r = parseKenyanMobile(input);
        if (r.ok) expect(r.msisdn).toMatch(/^254[17]\d{8}$/);
      }),
      { numRuns: 2000 },
    );
  });
});

describe(toMsisdn.name, () => {
  it('throws a domain error naming the field', () => {
    expect(() => toMsisdn('12')).toThrow(
      // eslint-disable-next-line @typescript-eslint/no-unsafe-argument -- jest's toThrow takes an asymmetric matcher (expect.objectContaining) at runtime; @types/jest types the matcher `any` and the parameter narrower
      expect.objectContaining({ code: 'PHONE.BAD_FORMAT', details: { field: 'phoneNumber' } }),
    );
    expect(toMsisdn('0712345678')).toBe('254712345678');
  });
});

describe(formatLocal.name, () => {
  // As Kenyans read a number aloud and write it down: four, three, three.
  it.each([
    ['254722000001', '0722 000 001'],
    ['254712345678', '0712 345 678'],
    ['254110123456', '0110 123 456'],
    ['254100123456', '0100 123 456'],
    ['+254722000001', '0722 000 001'],
    ['+254110123456', '0110 123 456'],
    ['0722000001', '0722 000 001'],
    ['0110123456', '0110 123 456'],
    ['0712 345 678', '0712 345 678'],
  ])('writes %p as %p', (number, shown) => expect(formatLocal(number)).toBe(shown));

  it('is the same for every form of a number, and reads back as that number', () => {
    fc.assert(
      fc.property(fc.constantFrom('7', '1'), fc.stringMatching(/^\d{8}$/), (lead, rest) => {
        const shown = formatLocal(`254${lead}${rest}`);
        expect(shown).toMatch(/^0[17]\d{2} \d{3} \d{3}$/);
        for (const form of [`+254${lead}${rest}`, `0${lead}${rest}`]) expect(formatLocal(form)).toBe(shown);
        expect(shown.replace(/ /g, '')).toBe(`0${lead}${rest}`);
      }),
      { numRuns: 200 },
    );
  });

  it('leaves anything that is not a Kenyan mobile number alone', () => {
    expect(formatLocal('MPESA')).toBe('MPESA');
    expect(formatLocal('25471234567')).toBe('25471234567');
    expect(formatLocal('0202222222')).toBe('0202222222');
  });
});

describe(localDigits.name, () => {
  it('writes the number as it is typed on a keypad', () => expect(localDigits('254712345678')).toBe('0712345678'));
  it('leaves anything that is not a stored Kenyan number alone', () => {
    expect(localDigits('MPESA')).toBe('MPESA');
    expect(localDigits('25471234567')).toBe('25471234567');
  });
});
