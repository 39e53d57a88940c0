import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { isDomainError } from '../src/common/domain-error.js';
import { UserIdentityCache } from '../src/users/user-identity.cache.js';
import { UsersService } from '../src/users/users.service.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    if (isDomainError(e)) return e.code;
    throw e;
  }
}

describe('users: registration, PINs and lockout (real PostgreSQL and Redis)', () => {
  let app: NestFastifyApplication;
  let users: UsersService;
  let db: DataSource;

  beforeAll(async () => {
    ({ app } = await startTestApp({ PIN_MAX_ATTEMPTS: '3', PIN_LOCK_MINUTES: '30', APP_ROLE: 'api' }));
    users = app.get(UsersService);
    db = app.get(DataSource);
  });
  afterAll(() => app.close());

  it('registers a subscriber on first contact, once, whatever the number form', async () => {
    const msisdn = uniquePhone();
    const local = `0${msisdn.slice(3)}`;
    const results = await Promise.all([
      users.findOrRegister(local),
      users.findOrRegister(`+${msisdn}`),
      users.findOrRegister(msisdn),
      ...Array.from({ length: 17 }, () => users.findOrRegister(local)),
    ]);
    expect(new Set(results.map((u) => u.id)).size).toBe(1);
    expect(results[0]).toMatchObject({ phoneNumber: msisdn, language: 'en' });
    const [{ n }] = await db.query<{ n: number }[]>('SELECT count(*)::int AS n FROM users WHERE phone_number = $1', [
      msisdn,
    ]);
    expect(n).toBe(1);
  });

  it('refuses numbers that are not Kenyan mobiles, and the database refuses them too', async () => {
    expect(await codeOf(users.findOrRegister('0202222222'))).toBe('PHONE.BAD_FORMAT');
    await expect(db.query(`INSERT INTO users (phone_number) VALUES ('255712345678')`)).rejects.toThrow(
      /CHK_users_phone_number/,
    );
  });

  it('stores a PIN as a peppered hash, never in clear', async () => {
    const user = await users.findOrRegister(uniquePhone());
    expect(await users.hasPin(user.id)).toBe(false);
    expect(await codeOf(users.createPin(user.id, '1234'))).toBe('USER.PIN_TRIVIAL');
    expect(await codeOf(users.createPin(user.id, '12'))).toBe('USER.PIN_FORMAT');
    await users.createPin(user.id, '4821');
    expect(await codeOf(users.createPin(user.id, '5930'))).toBe('USER.PIN_ALREADY_SET');
    const [{ pin_hash }] = await db.query<{ pin_hash: string }[]>('SELECT pin_hash FROM users WHERE id = $1', [
      user.id,
    ]);
    expect(pin_hash).toMatch(/^v1\$[\w-]+\$[\w-]+$/);
    expect(pin_hash).not.toContain('4821');
    expect(await codeOf(users.verifyPin(user.id, '4821'))).toBe('OK');
  });

  it('locks the PIN after 3 wrong tries, refuses even the right PIN while locked, and tells the owner', async () => {
    const user = await users.findOrRegister(uniquePhone());
    await users.createPin(user.id, '4821');
    expect(await codeOf(users.verifyPin(user.id, '0000'))).toBe('USER.PIN_INVALID');
    expect(await codeOf(users.verifyPin(user.id, '1111'))).toBe('USER.PIN_INVALID');
    expect(await codeOf(users.verifyPin(user.id, '2222'))).toBe('USER.PIN_LOCKED');
    expect(await codeOf(users.verifyPin(user.id, '4821'))).toBe('USER.PIN_LOCKED');
    const status = await users.pinLockStatus(user.id);
    expect(status.locked).toBe(true);
    expect(status.msLeft).toBeGreaterThan(29 * 60_000);
    expect(status.msLeft).toBeLessThanOrEqual(30 * 60_000);
    const sms = await db.query<{ template: string; body: string }[]>(
      `SELECT template, body FROM notifications WHERE phone_number = $1`,
      [user.phoneNumber],
    );
    expect(sms).toEqual([{ template: 'pin.locked', body: expect.stringContaining('30 minutes') as unknown }]);
  });

  it('says how many attempts are left, and a right PIN resets the count', async () => {
    const user = await users.findOrRegister(uniquePhone());
    await users.createPin(user.id, '4821');
    await expect(users.verifyPin(user.id, '0000')).rejects.toMatchObject({ details: { attemptsLeft: 2 } });
    await users.verifyPin(user.id, '4821');
    await expect(users.verifyPin(user.id, '0000')).rejects.toMatchObject({ details: { attemptsLeft: 2 } });
    await expect(users.verifyPin(user.id, '0000')).rejects.toMatchObject({ details: { attemptsLeft: 1 } });
  });

  it('lets no more than 3 of 30 parallel guesses be compared', async () => {
    const user = await users.findOrRegister(uniquePhone());
    await users.createPin(user.id, '4821');
    const guesses = Array.from({ length: 30 }, (_, i) => String(1000 + i * 7));
    const codes = await Promise.all(guesses.map((g) => codeOf(users.verifyPin(user.id, g))));
    const compared = codes.filter((c) => c === 'USER.PIN_INVALID').length + codes.filter((c) => c === 'OK').length;
    // The 3rd failure itself answers PIN_LOCKED, so at most 2 PIN_INVALID + 1 lock-causing failure.
    expect(compared).toBeLessThanOrEqual(2);
    expect(codes.filter((c) => c === 'USER.PIN_LOCKED').length).toBeGreaterThanOrEqual(28);
    expect(await codeOf(users.verifyPin(user.id, '4821'))).toBe('USER.PIN_LOCKED');
  });

  it('changes a PIN only with the old one, and records an SMS in the same transaction', async () => {
    const user = await users.findOrRegister(uniquePhone());
    await users.createPin(user.id, '4821');
    expect(await codeOf(users.changePin(user.id, '4821', '9999'))).toBe('USER.PIN_TRIVIAL');
    expect(await codeOf(users.changePin(user.id, '1357', '5930'))).toBe('USER.PIN_INVALID');
    expect(await codeOf(users.changePin(user.id, '4821', '4821'))).toBe('USER.PIN_UNCHANGED');
    await users.changePin(user.id, '4821', '5930');
    expect(await codeOf(users.verifyPin(user.id, '4821'))).toBe('USER.PIN_INVALID');
    expect(await codeOf(users.verifyPin(user.id, '5930'))).toBe('OK');
    const sms = await db.query<{ template: string }[]>(`SELECT template FROM notifications WHERE phone_number = $1`, [
      user.phoneNumber,
    ]);
    expect(sms).toEqual([{ template: 'pin.changed' }]);
  });

  it('keeps the language preference', async () => {
    const user = await users.findOrRegister(uniquePhone());
    await users.setLanguage(user.id, 'sw');
    expect((await users.getById(user.id)).language).toBe('sw');
    expect(await codeOf(users.getById('00000000-0000-4000-8000-000000000000'))).toBe('USER.NOT_FOUND');
  });

  it('identifies a caller from the cache once seen, with the language every change leaves', async () => {
    const msisdn = uniquePhone();
    const { registered, ...first } = await users.identify(`0${msisdn.slice(3)}`);
    // Registered by that first call, and only by it.
    expect({ registered, ...first }).toMatchObject({ registered: true, phoneNumber: msisdn, language: 'en' });
    // The cache answers now: a change made behind the service's back is not seen...
    await db.query(`UPDATE users SET language = 'sw' WHERE id = $1`, [first.id]);
    expect(await users.identify(msisdn)).toEqual({ ...first, registered: false });
    // ...while one made through it is, at once.
    await users.setLanguage(first.id, 'sw');
    expect(await users.identify(msisdn)).toEqual({ ...first, language: 'sw', registered: false });
    // A fill from a read taken before that change (a slow identify) does not bring the old language back.
    await app.get(UserIdentityCache).fill({ ...first, language: 'en' });
    expect(await users.identify(msisdn)).toEqual({ ...first, language: 'sw', registered: false });
    // Known to PostgreSQL but not to the cache (lost, or never filled): found, not registered again.
    expect(await users.identify(msisdn, undefined, null)).toEqual({ ...first, language: 'sw', registered: false });
    const [{ count }] = await db.query<{ count: string }[]>('SELECT count(*) FROM users WHERE phone_number = $1', [
      msisdn,
    ]);
    expect(count).toBe('1');
  });
});
