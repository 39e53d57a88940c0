import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';
import { LoansService } from '../src/loans/loans.service.js';
import { UsersService } from '../src/users/users.service.js';
import { startTestApp, uniquePhone } from './support/test-app.js';
import {
  atPost,
  BOTH_LANGUAGES,
  CheckedAtPhone,
  MAIN_MENU,
  MAIN_MENU_SW,
  NAV_SW,
  SCREENS,
  SCREENS_SW,
  subscriberWithPin,
} from './support/ussd-clients.js';

/**
 * Every refusal and END screen the webhook answers, in the subscriber's language once their
 * number is identified (by the session or the identity cache), and in both languages, English
 * then Kiswahili, where it cannot be known.
 */
describe('USSD screens in the subscriber’s language', () => {
  /** USSD_RATE_LIMIT_PER_MINUTE for this file: requests a phone may send in a minute. */
  const RATE = 12;
  let app: NestFastifyApplication;

  beforeAll(async () => {
    ({ app } = await startTestApp({ APP_ROLE: 'api', USSD_RATE_LIMIT_PER_MINUTE: String(RATE) }));
  });
  afterAll(() => app?.close());

  const con = (screen: string) => `CON ${screen}`;
  const end = (screen: string) => `END ${screen}`;

  /** A subscriber who chose Kiswahili earlier (a PIN set); returns the number. */
  async function mswahili(): Promise<string> {
    const phone = await subscriberWithPin(app, '4821');
    const users = app.get(UsersService);
    await users.setLanguage((await users.findOrRegister(phone)).id, 'sw');
    return phone;
  }

  /** A generic-dialect request (text = the latest input); the reply as sent. */
  async function generic(sessionId: string, phoneNumber: string, text: string) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/ussd/handler',
      payload: { sessionId, phoneNumber, text, serviceCode: '*383#' },
    });
    expect(res.statusCode).toBe(200);
    return res.json<{ responseType: string; message: string }>();
  }

  it('after choosing Kiswahili, the rate limit answers in Kiswahili: in the session, on a new dial, in any dialect', async () => {
    const phone = new CheckedAtPhone(app, uniquePhone());
    expect(await phone.dial()).toBe(con(MAIN_MENU));
    expect(await phone.reply('7')).toBe(con(SCREENS.account));
    expect(await phone.reply('4')).toBe(con(SCREENS.language));
    expect(await phone.reply('2')).toBe(end('Lugha sasa ni Kiswahili.'));
    expect(await phone.dial()).toBe(con(MAIN_MENU_SW));
    // Five requests so far; the rest of the minute's allowance goes back and forth.
    for (let sent = 5; sent < RATE; sent += 1) {
      expect(await phone.reply(sent % 2 ? '1' : '0')).toMatch(/^CON (OMBA MKOPO|MIKOPO YA M-PESA)\n/);
    }
    expect(await phone.reply('1')).toBe(end(SCREENS_SW.rateLimited));
    expect(await phone.dial()).toBe(end(SCREENS_SW.rateLimited));
    expect(await generic(`gen-${randomUUID()}`, phone.phoneNumber, '')).toEqual({
      responseType: 'notification',
      message: SCREENS_SW.rateLimited,
    });
  });

  it('answers a Kiswahili subscriber every refusal and END screen in Kiswahili', async () => {
    const me = await mswahili();

    // 0 on the main menu ends the session.
    const exit = new CheckedAtPhone(app, me);
    expect(await exit.dial()).toBe(con(MAIN_MENU_SW));
    expect(await exit.reply('0')).toBe(end(SCREENS_SW.bye));

    // Three wrong PINs lock it.
    const locked = new CheckedAtPhone(app, me);
    expect(await locked.dial('1*0722000001*5000*500*1')).toBe(con(`Weka PIN yako ya tarakimu 4:${NAV_SW}`));
    expect(await locked.reply('1357')).toMatch(/^CON PIN si sahihi\./);
    expect(await locked.reply('1357')).toMatch(/^CON PIN si sahihi\./);
    expect(await locked.reply('1357')).toBe(end(SCREENS_SW.pinLocked));

    // An answer too long for any gateway to have sent.
    const tooLong = new CheckedAtPhone(app, me);
    expect(await tooLong.dial()).toBe(con(MAIN_MENU_SW));
    expect(await tooLong.reply('1'.repeat(501))).toBe(end(SCREENS_SW.unreadable));

    // A session id that is another phone's names nothing of that phone: mine, in my language.
    const other = new CheckedAtPhone(app, uniquePhone());
    expect(await other.dial()).toBe(con(MAIN_MENU));
    expect(await atPost(app, { sessionId: other.session, phoneNumber: me, text: '' })).toEqual({
      status: 200,
      body: con(MAIN_MENU_SW),
    });
    expect(await other.reply('1')).toBe(con(SCREENS.lenderPhone));

    // Something fails inside once the number is known.
    const loans = app.get(LoansService);
    const summary = loans.summary.bind(loans);
    loans.summary = () => Promise.reject(new Error('boom: a bug behind the balance screen'));
    try {
      const broken = new CheckedAtPhone(app, me);
      expect(await broken.dial()).toBe(con(MAIN_MENU_SW));
      expect(await broken.reply('4')).toBe(end(SCREENS_SW.generic));
    } finally {
      loans.summary = summary;
    }
  });

  it('answers in both languages, on one screen, where the language cannot be known', async () => {
    // Not a Kenyan number: nobody to know.
    expect(await atPost(app, { sessionId: `uk-${randomUUID()}`, phoneNumber: '447700900123', text: '' })).toEqual({
      status: 200,
      body: end(BOTH_LANGUAGES.badNumber),
    });
    // A request that cannot be read, from a number never seen.
    const stranger = uniquePhone();
    expect(await atPost(app, { sessionId: `long-${stranger}`, phoneNumber: stranger, text: '1'.repeat(501) })).toEqual({
      status: 200,
      body: end(BOTH_LANGUAGES.unreadable),
    });
    const missing = await app.inject({
      method: 'POST',
      url: '/api/ussd/handler',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ serviceCode: '*383#', phoneNumber: stranger, text: '' }).toString(),
    });
    expect(missing.body).toBe(end(BOTH_LANGUAGES.unreadable));

    // A number that cannot be identified (PostgreSQL fails before anyone is known) dials until it
    // is rate limited: every answer, the refusal of the limit included, in both languages.
    const users = app.get(UsersService);
    const identify = users.identify.bind(users);
    users.identify = () => Promise.reject(new Error('boom: before anyone is known'));
    try {
      for (let sent = 1; sent <= RATE; sent += 1) {
        expect(await atPost(app, { sessionId: `rate-${sent}-${stranger}`, phoneNumber: stranger, text: '' })).toEqual({
          status: 200,
          body: end(BOTH_LANGUAGES.generic),
        });
      }
    } finally {
      users.identify = identify;
    }
    expect(await atPost(app, { sessionId: `rate-last-${stranger}`, phoneNumber: stranger, text: '1' })).toEqual({
      status: 200,
      body: end(BOTH_LANGUAGES.rateLimited),
    });
    expect(await generic(`gen-${randomUUID()}`, stranger, '')).toEqual({
      responseType: 'notification',
      message: BOTH_LANGUAGES.rateLimited,
    });
  });
});
