import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { UsersService } from '../src/users/users.service.js';
import { localDigits } from '../src/common/phone-number.js';
import { ADMIN_KEY, ApiClient } from './support/api-client.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { startTestApp, testConfig, uniquePhone } from './support/test-app.js';
import { AtPhone } from './support/ussd-phone.js';

/**
 * One PIN, one lock (docs/security.md): three wrong PINs lock it for 30 minutes whichever channel
 * they come through (REST login, a USSD PIN screen, the offline check against the cached hash), and
 * only a one-time code sent by SMS sets a new PIN on a locked number.
 */
describe('PIN lockout across channels', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let users: UsersService;

  beforeAll(async () => {
    ({ app } = await startTestApp({ ADMIN_API_KEY: ADMIN_KEY, APP_ROLE: 'api' }));
    api = new ApiClient(app);
    users = app.get(UsersService);
  });
  afterAll(() => app.close());

  const login = (phoneNumber: string, pin: string) =>
    api.call<{ code?: string; accessToken?: string }>('POST', '/api/auth/login', { body: { phoneNumber, pin } });

  /** Walks USSD to a PIN screen (a loan request to someone) and types `pin` there. */
  async function ussdPin(phone: string, pin: string): Promise<string> {
    const lender = uniquePhone();
    await users.findOrRegister(lender);
    const p = new AtPhone(app, phone);
    await p.dial(`1*${localDigits(lender)}*1000*100`);
    await p.reply('1');
    return p.reply(pin);
  }

  it('counts wrong PINs from REST, USSD and the offline check against one lock, then only a one-time code unlocks', async () => {
    const phone = uniquePhone();
    await api.onboard(phone, '4821');
    const user = (await users.findByPhone(phone))!;

    // 1st wrong PIN: REST.
    expect(await login(phone, '0000')).toMatchObject({ status: 401, body: { code: 'USER.PIN_INVALID' } });
    // 2nd: a USSD PIN screen, which says one try is left.
    expect(await ussdPin(phone, '1111')).toContain('Wrong PIN. 1 attempt(s) left.');
    // 3rd: the offline check (against the cached hash), which locks.
    await expect(users.verifyPinOffline(user.id, '2222')).rejects.toMatchObject({ code: 'USER.PIN_LOCKED' });

    // Locked everywhere, the right PIN included.
    expect(await login(phone, '4821')).toMatchObject({ status: 423, body: { code: 'USER.PIN_LOCKED' } });
    expect(await ussdPin(phone, '4821')).toBe('END Too many wrong PINs. Your PIN is locked for 30 minutes.');
    await expect(users.verifyPinOffline(user.id, '4821')).rejects.toMatchObject({ code: 'USER.PIN_LOCKED' });

    // A new PIN needs the code sent by SMS: a wrong code sets nothing.
    expect(
      await api.call('POST', '/api/auth/pin', { body: { phoneNumber: phone, otp: '000000', pin: '5930' } }),
    ).toMatchObject({ status: 401, body: { code: 'OTP.INVALID' } });
    expect(await login(phone, '5930')).toMatchObject({ status: 423 });

    expect((await api.call('POST', '/api/auth/otp', { body: { phoneNumber: phone } })).status).toBe(202);
    const code = (await api.lastSms(phone, 'auth.otp'))?.match(/\b(\d{6})\b/)?.[1];
    expect(code).toMatch(/^\d{6}$/);
    expect(
      (await api.call('POST', '/api/auth/pin', { body: { phoneNumber: phone, otp: code, pin: '5930' } })).status,
    ).toBe(200);

    // Unlocked with the new PIN, on every channel; the old one is gone.
    expect(await login(phone, '5930')).toMatchObject({ status: 200 });
    expect(await login(phone, '4821')).toMatchObject({ status: 401, body: { code: 'USER.PIN_INVALID' } });
    await expect(users.verifyPinOffline(user.id, '5930')).resolves.toBeUndefined();
  });
});

/**
 * A check of the right PIN that Redis cuts short must not count as a wrong one: the fault test
 * (npm run chaos) saw a subscriber who only ever typed the right PIN locked out for 30 minutes
 * after a Redis cut. Here Redis stalls (the connection stays open, no byte goes through) while three
 * checks of the right PIN time out; the commands they sent reach Redis once it answers again.
 */
describe('PIN checks cut short by Redis', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let users: UsersService;
  let proxy: TcpProxy;

  beforeAll(async () => {
    const redis = new URL(testConfig().redis.url);
    proxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
    ({ app } = await startTestApp({
      ADMIN_API_KEY: ADMIN_KEY,
      APP_ROLE: 'api',
      REDIS_URL: proxy.url(testConfig().redis.url),
    }));
    api = new ApiClient(app);
    users = app.get(UsersService);
  });
  afterAll(async () => {
    proxy.restore();
    await app.close();
    await proxy.close();
  });

  it('count nothing against the PIN once Redis answers again: the right PIN still works, three wrong ones still lock', async () => {
    const phone = uniquePhone();
    await api.onboard(phone, '4821');
    const user = (await users.findByPhone(phone))!;

    proxy.stall();
    for (let i = 0; i < 3; i += 1) await expect(users.verifyPin(user.id, '4821')).rejects.toThrow();
    proxy.restore();
    // The commands held by the stall have reached Redis once a later one on the connection is answered.
    await users.pinLockStatus(user.id);

    await expect(users.verifyPin(user.id, '4821')).resolves.toBeUndefined();
    await expect(users.verifyPin(user.id, '0000')).rejects.toMatchObject({ code: 'USER.PIN_INVALID' });
    await expect(users.verifyPin(user.id, '0000')).rejects.toMatchObject({ code: 'USER.PIN_INVALID' });
    await expect(users.verifyPin(user.id, '0000')).rejects.toMatchObject({ code: 'USER.PIN_LOCKED' });
    await expect(users.verifyPin(user.id, '4821')).rejects.toMatchObject({ code: 'USER.PIN_LOCKED' });
  });
});
