import { foldName, parseDisplayName, personLabel, shortName, titleCase } from './display-name.js';
import { isGsm7 } from '../ussd/engine/screen-text.js';

describe('display names', () => {
  it.each([
    ['Jane Wanjiru', 'Jane Wanjiru'],
    ['  jane   wanjiru ', 'jane wanjiru'],
    ['O’Neil Akinyi', "O'Neil Akinyi"],
    ['Jean-Paul Zoë', 'Jean-Paul Zoë'],
    ['Al', 'Al'],
  ])('accepts %j as %j', (input, name) => {
    expect(parseDisplayName(input)).toEqual({ ok: true, name });
  });

  it.each([
    ['', 'NAME.REQUIRED'],
    ['   ', 'NAME.REQUIRED'],
    [42, 'NAME.REQUIRED'],
    ['J', 'NAME.LENGTH'],
    ['A'.repeat(41), 'NAME.LENGTH'],
    ['Jane2', 'NAME.CHARACTERS'],
    ['Jane--W', 'NAME.CHARACTERS'],
    ['-Jane', 'NAME.CHARACTERS'],
    ["Jane'", 'NAME.CHARACTERS'],
    ['Jane.W', 'NAME.CHARACTERS'],
    ['Иван', 'NAME.CHARACTERS'],
    ['0712345678', 'NAME.CHARACTERS'],
  ])('refuses %j with %s', (input, code) => {
    const parsed = parseDisplayName(input);
    expect(parsed.ok ? null : parsed.code).toBe(code);
  });

  it('counts 40 characters after folding too', () => {
    expect(parseDisplayName('A'.repeat(40)).ok).toBe(true);
    // ß folds to two letters: 40 typed characters become 41 shown.
    expect(parseDisplayName(`${'A'.repeat(39)}ß`)).toMatchObject({ ok: false, code: 'NAME.LENGTH' });
  });

  it('folds accents and ligatures into GSM-7 letters', () => {
    expect(foldName('Zoë Müller-Łukasz Ærø Straße')).toBe('Zoe Muller-Lukasz AEro Strasse');
    expect(isGsm7(foldName('Zoë Müller-Łukasz Ærø Straße'))).toBe(true);
  });

  it('title-cases the capitals M-PESA reports', () => {
    expect(titleCase("JOHN O'NEIL-DOE")).toBe("John O'Neil-Doe");
    expect(titleCase('jane wanjiru')).toBe('Jane Wanjiru');
  });

  it('shows the first name and the last initial, at most 14 characters', () => {
    expect(shortName('Jane Wanjiru')).toBe('Jane W.');
    expect(shortName('Jane Akinyi Wanjiru')).toBe('Jane W.');
    expect(shortName('Jane')).toBe('Jane');
    expect(shortName('Zoë Ödegaard')).toBe('Zoe O.');
    expect(shortName('Bartholomewsky Otieno')).toBe('Bartholomew O.');
    expect(shortName('Bartholomewskyovich')).toBe('Bartholomewsky');
    expect(shortName('Bartholomewsky Otieno')).toHaveLength(14);
  });

  it('labels a person by short name and local number, or by number alone', () => {
    expect(personLabel('254712345678', 'Jane Wanjiru')).toBe('Jane W. 0712 345 678');
    expect(personLabel('254712345678', null)).toBe('0712 345 678');
  });
});
