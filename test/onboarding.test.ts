import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { OnboardingService } from '../src/onboarding/onboarding.service.js';
import { UsersService } from '../src/users/users.service.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

describe('onboarding: a subscriber and their wallet, registered together (real PostgreSQL)', () => {
  let app: NestFastifyApplication;
  let onboarding: OnboardingService;
  let users: UsersService;
  let db: DataSource;

  beforeAll(async () => {
    ({ app } = await startTestApp({ APP_ROLE: 'api' }));
    onboarding = app.get(OnboardingService);
    users = app.get(UsersService);
    db = app.get(DataSource);
  });
  afterAll(() => app.close());

  const walletsOf = async (userId: string) =>
    (
      await db.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM accounts WHERE user_id = $1 AND kind = 'user_wallet'`,
        [userId],
      )
    )[0].n;

  it('opens exactly one wallet for a number registered by many first contacts at once', async () => {
    const msisdn = uniquePhone();
    const results = await Promise.all([
      ...Array.from({ length: 6 }, () => onboarding.register(msisdn)),
      ...Array.from({ length: 6 }, () => onboarding.identify(`0${msisdn.slice(3)}`)),
    ]);
    expect(new Set(results.map((u) => u.id)).size).toBe(1);
    expect(await walletsOf(results[0].id)).toBe(1);
  });

  it('opens the wallet in the registering transaction: no subscriber is left without one', async () => {
    const msisdn = uniquePhone();
    // A registration whose follow-up fails leaves nothing behind, so the wallet cannot be missing.
    await expect(
      users.findOrRegister(msisdn, undefined, () => Promise.reject(new Error('wallet could not be opened'))),
    ).rejects.toThrow('wallet could not be opened');
    expect(await users.findByPhone(msisdn)).toBeNull();
    // The same where a dial registers (identify).
    await expect(
      users.identify(msisdn, () => Promise.reject(new Error('wallet could not be opened')), null),
    ).rejects.toThrow('wallet could not be opened');
    expect(await users.findByPhone(msisdn)).toBeNull();
    const user = await onboarding.register(msisdn);
    expect(await walletsOf(user.id)).toBe(1);
  });

  it('users alone registers no wallet: opening it is onboarding’s part', async () => {
    const user = await users.findOrRegister(uniquePhone());
    expect(await walletsOf(user.id)).toBe(0);
  });
});
