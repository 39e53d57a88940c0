import fc from 'fast-check';
import { hashPin, pinMatches, pinRejection } from './pin.js';

const PEPPER = 'a-test-pepper-that-is-long-enough-123';

describe(pinRejection.name, () => {
  it.each(['0000', '1111', '9999', '1234', '0123', '6789', '4321', '9876', '3210'])(
    'refuses the trivial PIN %s',
    (pin) => {
      expect(pinRejection(pin)).toBe('PIN.TRIVIAL');
    },
  );

  it.each(['123', '12345', '12a4', '', ' 1234', '١٢٣٤', '12.4'])('refuses the malformed PIN %p', (pin) => {
    expect(pinRejection(pin)).toBe('PIN.FORMAT');
  });

  it.each(['4821', '1357', '2580', '1243', '9012', '0987'])('accepts %s', (pin) => {
    expect(pinRejection(pin)).toBeNull();
  });

  it('agrees with a brute-force definition on all 10,000 PINs', () => {
    let trivial = 0;
    for (let i = 0; i < 10_000; i += 1) {
      const pin = String(i).padStart(4, '0');
      const d = [...pin].map(Number);
      const steps = new Set(d.slice(1).map((x, k) => x - d[k]));
      const expected = steps.size === 1 && [0, 1, -1].includes([...steps][0]);
      if (expected) trivial += 1;
      expect(pinRejection(pin) === 'PIN.TRIVIAL').toBe(expected);
    }
    expect(trivial).toBe(10 + 7 + 7); // all-same, ascending, descending
  });
});

describe('PIN hashing', () => {
  it('matches the PIN it was made from and no other', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\d{4}$/), fc.stringMatching(/^\d{4}$/), (pin, other) => {
        const stored = hashPin(pin, PEPPER);
        expect(pinMatches(pin, stored, PEPPER)).toBe(true);
        expect(pinMatches(other, stored, PEPPER)).toBe(pin === other);
      }),
      { numRuns: 300 },
    );
  });

  it('salts every hash and depends on the pepper', () => {
    const a = hashPin('4821', PEPPER);
    const b = hashPin('4821', PEPPER);
    expect(a).not.toBe(b);
    expect(a).not.toContain('4821');
    expect(pinMatches('4821', a, 'another-pepper-that-is-long-enough-x')).toBe(false);
  });

  it('refuses stored values it does not understand', () => {
    expect(pinMatches('4821', 'plain-4821', PEPPER)).toBe(false);
    expect(pinMatches('4821', 'v2$abc$def', PEPPER)).toBe(false);
  });
});
