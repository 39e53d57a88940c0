import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { UsersService } from '../src/users/users.service.js';
import { ADMIN_KEY } from './support/api-client.js';
import { productionEnv } from './support/production-env.js';
import { ownRedisPrefix, startTestApp, testConfig, uniquePhone } from './support/test-app.js';
import {
  AtSession,
  atPost,
  BOTH_LANGUAGES,
  checkAtBody,
  checkScreen,
  GenericPhone,
  MAIN_MENU,
  SCREENS,
  input,
  loansOf,
} from './support/ussd-clients.js';

/**
 * The webhook as gateways and operators meet it: every dialect's wire format, malformed
 * requests, the seed's test and monitoring endpoints, webhook protection, metrics, and two API
 * instances sharing one set of sessions.
 */
describe('USSD gateways and endpoints', () => {
  const SECRET = 'ussd-webhook-secret-0123456789';
  let app: NestFastifyApplication;
  /** USSD_TEST_ENDPOINT=false and USSD_ALLOWED_IPS=10.0.0.0/8. */
  let closedApp: NestFastifyApplication;
  /** A webhook secret, USSD_ALLOWED_IPS=127.0.0.1/32 and 5 requests a minute per phone. */
  let guardedApp: NestFastifyApplication;

  beforeAll(async () => {
    [app, closedApp, guardedApp] = await Promise.all([
      startTestApp({ ADMIN_API_KEY: ADMIN_KEY, APP_ROLE: 'api', REDIS_KEY_PREFIX: ownRedisPrefix() }).then(
        (s) => s.app,
      ),
      startTestApp({
        ADMIN_API_KEY: ADMIN_KEY,
        APP_ROLE: 'api',
        REDIS_KEY_PREFIX: ownRedisPrefix(),
        USSD_TEST_ENDPOINT: 'false',
        USSD_ALLOWED_IPS: '10.0.0.0/8',
      }).then((s) => s.app),
      startTestApp({
        ADMIN_API_KEY: ADMIN_KEY,
        APP_ROLE: 'api',
        REDIS_KEY_PREFIX: ownRedisPrefix(),
        USSD_WEBHOOK_SECRET: SECRET,
        USSD_ALLOWED_IPS: '127.0.0.1/32',
        USSD_RATE_LIMIT_PER_MINUTE: '5',
      }).then((s) => s.app),
    ]);
  });
  afterAll(() => Promise.all([app?.close(), closedApp?.close(), guardedApp?.close()]));

  const con = (screen: string) => `CON ${screen}`;
  const end = (screen: string) => `END ${screen}`;

  async function post(
    target: NestFastifyApplication,
    url: string,
    payload: unknown,
    headers: Record<string, string> = {},
  ) {
    const res = await target.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', ...headers },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });
    return {
      status: res.statusCode,
      contentType: String(res.headers['content-type']),
      body: res.body,
      json: <T = unknown>() => res.json<T>(),
    };
  }

  describe('every dialect: dial, one step, home, exit', () => {
    it('africastalking (form in, CON/END text out) at /api/ussd/handler/africastalking', async () => {
      const phone = uniquePhone();
      const url = '/api/ussd/handler/africastalking';
      const sessionId = `ATUid_${phone}`;
      const steps: [string, string][] = [
        ['', con(MAIN_MENU)],
        ['1', con(SCREENS.lenderPhone)],
        ['1*00', con(MAIN_MENU)],
        ['1*00*0', end(SCREENS.bye)],
      ];
      for (const [text, expected] of steps) {
        expect(await atPost(app, { sessionId, phoneNumber: phone, text }, { url })).toEqual({
          status: 200,
          body: expected,
        });
      }
    });

    it('generic ({sessionId, phoneNumber, text, serviceCode} → {responseType, message}) at /api/ussd/handler/generic', async () => {
      const g = new GenericPhone(app, uniquePhone(), '/api/ussd/handler/generic');
      expect(await g.send('')).toEqual(input(MAIN_MENU));
      expect(await g.send('1')).toEqual(input(SCREENS.lenderPhone));
      expect(await g.send('00')).toEqual(input(MAIN_MENU));
      expect(await g.send('0')).toEqual({ responseType: 'notification', message: SCREENS.bye });
    });

    it('hubtel (Initiation → Response → Release; {Type, Message, ClientState})', async () => {
      const phone = uniquePhone();
      const base = { Mobile: phone, SessionId: `hub-${phone}`, ServiceCode: '*383#', Operator: 'safaricom' };
      const url = '/api/ussd/handler/hubtel';
      const send = async (body: Record<string, unknown>) => {
        const res = await post(app, url, { ...base, ...body });
        expect(res.status).toBe(200);
        expect(res.contentType).toMatch(/^application\/json/);
        const reply = res.json<{ Type: string; Message: string; ClientState: string }>();
        expect(Object.keys(reply).sort()).toEqual(['ClientState', 'Message', 'Type']);
        checkScreen(reply.Message);
        return reply;
      };
      expect(await send({ Type: 'Initiation', Message: '*383#', Sequence: 1, ClientState: 'st-1' })).toEqual({
        Type: 'Response',
        Message: MAIN_MENU,
        ClientState: 'st-1',
      });
      expect(await send({ Type: 'Response', Message: '1', Sequence: '2' })).toEqual({
        Type: 'Response',
        Message: SCREENS.lenderPhone,
        ClientState: '',
      });
      // A retried Sequence is answered from the stored reply, not typed twice.
      expect(await send({ Type: 'Response', Message: '1', Sequence: '2' })).toEqual({
        Type: 'Response',
        Message: SCREENS.lenderPhone,
        ClientState: '',
      });
      expect(await send({ Type: 'Response', Message: '00', Sequence: '3' })).toEqual({
        Type: 'Response',
        Message: MAIN_MENU,
        ClientState: '',
      });
      expect(await send({ Type: 'Release', Message: '', Sequence: '4' })).toEqual({
        Type: 'Release',
        Message: '',
        ClientState: '',
      });
      // After the Release the session is gone: the next Response starts afresh.
      const health = (
        await app.inject({ method: 'GET', url: '/api/ussd/sessions', headers: { 'x-api-key': ADMIN_KEY } })
      ).json<{
        sessions: { sessionId: string }[];
      }>();
      expect(health.sessions.map((s) => s.sessionId)).not.toContain(base.SessionId);
      // And an exit ends with Release.
      await send({ Type: 'Initiation', Message: '*383#', Sequence: 1 });
      expect(await send({ Type: 'Response', Message: '0', Sequence: 2 })).toEqual({
        Type: 'Release',
        Message: SCREENS.bye,
        ClientState: '',
      });
    });

    it('nalo (MSGTYPE true first, then false; {USERID, MSISDN, MSG, MSGTYPE})', async () => {
      const phone = uniquePhone();
      const url = '/api/ussd/handler/nalo';
      const send = async (USERDATA: string, MSGTYPE: boolean) => {
        const res = await post(app, url, {
          USERID: 'nalo_deni',
          MSISDN: phone,
          USERDATA,
          MSGTYPE,
          NETWORK: 'SAFARICOM',
        });
        expect(res.status).toBe(200);
        const reply = res.json<{ USERID: string; MSISDN: string; MSG: string; MSGTYPE: boolean }>();
        expect(Object.keys(reply).sort()).toEqual(['MSG', 'MSGTYPE', 'MSISDN', 'USERID']);
        checkScreen(reply.MSG);
        return reply;
      };
      expect(await send('*383#', true)).toEqual({ USERID: 'nalo_deni', MSISDN: phone, MSG: MAIN_MENU, MSGTYPE: true });
      expect(await send('1', false)).toEqual({
        USERID: 'nalo_deni',
        MSISDN: phone,
        MSG: SCREENS.lenderPhone,
        MSGTYPE: true,
      });
      // A new MSGTYPE true opens a fresh session even though Nalo reuses its ids.
      expect(await send('*383#', true)).toEqual({ USERID: 'nalo_deni', MSISDN: phone, MSG: MAIN_MENU, MSGTYPE: true });
      expect(await send('0', false)).toEqual({ USERID: 'nalo_deni', MSISDN: phone, MSG: SCREENS.bye, MSGTYPE: false });
    });

    it('arkesel (newSession true, then false; {sessionID, userID, msisdn, message, continueSession})', async () => {
      const phone = uniquePhone();
      const sessionID = `ark-${phone}`;
      const url = '/api/ussd/handler/arkesel';
      const send = async (userData: string, newSession: boolean) => {
        const res = await post(app, url, {
          sessionID,
          userID: 'ark_deni',
          newSession,
          msisdn: phone,
          userData,
          network: 'Safaricom',
        });
        expect(res.status).toBe(200);
        const reply = res.json<Record<string, unknown>>();
        expect(Object.keys(reply).sort()).toEqual(['continueSession', 'message', 'msisdn', 'sessionID', 'userID']);
        checkScreen(String(reply.message));
        return reply;
      };
      const reply = (message: string, continueSession: boolean) => ({
        sessionID,
        userID: 'ark_deni',
        msisdn: phone,
        message,
        continueSession,
      });
      expect(await send('*383#', true)).toEqual(reply(MAIN_MENU, true));
      expect(await send('1', false)).toEqual(reply(SCREENS.lenderPhone, true));
      expect(await send('00', false)).toEqual(reply(MAIN_MENU, true));
      expect(await send('0', false)).toEqual(reply(SCREENS.bye, false));
    });
  });

  describe('malformed requests', () => {
    const generic = (phone: string) => ({
      sessionId: `bad-${phone}`,
      phoneNumber: phone,
      text: '',
      serviceCode: '*383#',
    });

    it('JSON dialects get a 400 naming the problem', async () => {
      const phone = uniquePhone();
      const cases: [string, unknown, RegExp][] = [
        ['/api/ussd/handler', { ...generic(phone), sessionId: undefined }, /sessionId is required/],
        ['/api/ussd/handler', { ...generic(phone), phoneNumber: undefined }, /phoneNumber is required/],
        ['/api/ussd/handler', { ...generic(phone), phoneNumber: Number(phone) }, /phoneNumber must be a string/],
        ['/api/ussd/handler', { ...generic(phone), text: 1 }, /text must be a string/],
        ['/api/ussd/handler', { ...generic(phone), text: '1'.repeat(501) }, /text is too long/],
        ['/api/ussd/handler', [generic(phone)], /body must be an object/],
        ['/api/ussd/handler/generic', { ...generic(phone), serviceCode: undefined }, /serviceCode is required/],
        [
          '/api/ussd/handler/hubtel',
          { Mobile: phone, SessionId: 's', ServiceCode: '*383#', Type: 'Hello' },
          /Type must be/,
        ],
        [
          '/api/ussd/handler/hubtel',
          { Mobile: phone, SessionId: 's', ServiceCode: '*383#', Type: 'Response' },
          /Message is required/,
        ],
        [
          '/api/ussd/handler/nalo',
          { USERID: 'u', MSISDN: phone, USERDATA: '1', MSGTYPE: 'maybe' },
          /MSGTYPE must be true or false/,
        ],
        [
          '/api/ussd/handler/arkesel',
          { sessionID: 's', userID: 'u', msisdn: phone, userData: '1' },
          /newSession is required/,
        ],
      ];
      for (const [url, body, reason] of cases) {
        const res = await post(app, url, body);
        expect({ url, body, status: res.status }).toEqual({ url, body, status: 400 });
        expect(res.json()).toMatchObject({
          statusCode: 400,
          code: 'USSD.BAD_REQUEST',
          message: expect.stringMatching(reason) as unknown,
        });
      }
      // Nothing was started for the phone.
      expect(await loansOf(app, phone)).toEqual([]);
    });

    it("Africa's Talking always gets a 200 END screen", async () => {
      const phone = uniquePhone();
      const missing = await app.inject({
        method: 'POST',
        url: '/api/ussd/handler',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ serviceCode: '*383#', phoneNumber: phone, text: '' }).toString(),
      });
      expect(missing.statusCode).toBe(200);
      expect(missing.headers['content-type']).toMatch(/^text\/plain/);
      // Nobody identified: in both languages.
      expect(missing.body).toBe(end(BOTH_LANGUAGES.unreadable));
      expect(await atPost(app, { sessionId: `long-${phone}`, phoneNumber: phone, text: '1'.repeat(501) })).toEqual({
        status: 200,
        body: end(BOTH_LANGUAGES.unreadable),
      });
      expect(await atPost(app, { sessionId: `uk-${phone}`, phoneNumber: '447700900123', text: '' })).toEqual({
        status: 200,
        body: end(BOTH_LANGUAGES.badNumber),
      });
    });

    it('an unknown gateway is a 400 with the reason; a content type the handler cannot read is a 415', async () => {
      const phone = uniquePhone();
      const unknown = await post(app, '/api/ussd/handler/safaricom', generic(phone));
      expect(unknown.status).toBe(400);
      expect(JSON.parse(String(unknown.body))).toMatchObject({
        code: 'USSD.UNKNOWN_GATEWAY',
        message: expect.stringContaining('africastalking') as unknown,
      });
      for (const contentType of ['text/plain', 'application/xml']) {
        const res = await app.inject({
          method: 'POST',
          url: '/api/ussd/handler',
          headers: { 'content-type': contentType },
          payload: 'text=1',
        });
        expect(res.statusCode).toBe(415);
      }
      const broken = await post(app, '/api/ussd/handler', '{"sessionId": ');
      expect(broken.status).toBe(400);
    });

    it('an internal error still answers a valid END, without leaking the error', async () => {
      const users = app.get(UsersService);
      const original = users.identify.bind(users);
      users.identify = () => Promise.reject(new Error('boom: database exploded at /srv/deni/src/users.ts:42'));
      const phone = uniquePhone();
      let at;
      let json;
      try {
        at = await atPost(app, { sessionId: `err-${phone}`, phoneNumber: phone, text: '' });
        json = await post(app, '/api/ussd/handler', generic(phone));
      } finally {
        users.identify = original;
      }
      // It failed before the number was identified: in both languages.
      expect(at).toEqual({ status: 200, body: end(BOTH_LANGUAGES.generic) });
      expect(json.status).toBe(200);
      expect(json.json()).toEqual({ responseType: 'notification', message: BOTH_LANGUAGES.generic });
      checkScreen(BOTH_LANGUAGES.generic);
      // Service restored: the same phone dials normally.
      expect(await atPost(app, { sessionId: `ok-${phone}`, phoneNumber: phone, text: '' })).toEqual({
        status: 200,
        body: con(MAIN_MENU),
      });
    });
  });

  describe("the seed's endpoints", () => {
    it('POST /api/ussd/test answers {sessionId, phoneNumber, state, message, continueSession}', async () => {
      const phoneNumber = uniquePhone();
      const sessionId = `test-${phoneNumber}`;
      const step = async (text: string) => {
        const res = await post(app, '/api/ussd/test', { sessionId, phoneNumber, text });
        expect(res.status).toBe(200);
        const body = res.json<{ message: string }>();
        checkScreen(body.message);
        return body;
      };
      expect(await step('')).toEqual({
        sessionId,
        phoneNumber,
        state: 'MAIN',
        message: MAIN_MENU,
        continueSession: true,
      });
      expect(await step('1')).toEqual({
        sessionId,
        phoneNumber,
        state: 'REQUEST_LOAN_PHONE',
        message: SCREENS.lenderPhone,
        continueSession: true,
      });
      expect(await step('0722000000')).toEqual({
        sessionId,
        phoneNumber,
        state: 'REQUEST_LOAN_AMOUNT',
        message: SCREENS.amount,
        continueSession: true,
      });
      expect(await step('00')).toMatchObject({ state: 'MAIN', continueSession: true });
      expect(await step('0')).toEqual({
        sessionId,
        phoneNumber,
        state: 'MAIN',
        message: SCREENS.bye,
        continueSession: false,
      });
      expect((await post(app, '/api/ussd/test', { sessionId, phoneNumber })).status).toBe(400);
    });

    it('POST /api/ussd/test is off when USSD_TEST_ENDPOINT=false, and by default in production', async () => {
      const res = await post(closedApp, '/api/ussd/test', { sessionId: 't-1', phoneNumber: uniquePhone(), text: '' });
      expect(res.status).toBe(404);
      expect(testConfig(productionEnv()).ussd.testEndpoint).toBe(false);
      expect(testConfig({ ...productionEnv(), USSD_TEST_ENDPOINT: 'true' }).ussd.testEndpoint).toBe(true);
    });

    it('GET /api/ussd/sessions and POST /api/ussd/sessions/clear need the admin key and keep the seed shapes', async () => {
      const phone = uniquePhone();
      const sessionId = `mon-${phone}`;
      await atPost(app, { sessionId, phoneNumber: phone, text: '' });
      const lastStep = Date.now();
      await atPost(app, { sessionId, phoneNumber: phone, text: '1' });

      expect((await app.inject({ method: 'GET', url: '/api/ussd/sessions' })).statusCode).toBe(401);
      expect(
        (await app.inject({ method: 'GET', url: '/api/ussd/sessions', headers: { 'x-api-key': 'wrong-key' } }))
          .statusCode,
      ).toBe(401);
      expect((await app.inject({ method: 'POST', url: '/api/ussd/sessions/clear' })).statusCode).toBe(401);

      const listed = await app.inject({
        method: 'GET',
        url: '/api/ussd/sessions',
        headers: { 'x-api-key': ADMIN_KEY },
      });
      const asked = Date.now();
      expect(listed.statusCode).toBe(200);
      const body = listed.json<{ activeSessions: number; sessions: Record<string, unknown>[] }>();
      expect(Object.keys(body).sort()).toEqual(['activeSessions', 'sessions']);
      expect(body.activeSessions).toBe(body.sessions.length);
      const mine = body.sessions.find((s) => s.sessionId === sessionId);
      expect(mine).toEqual({
        sessionId,
        phoneNumber: phone,
        state: 'REQUEST_LOAN_PHONE',
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/) as unknown,
        lastActivityAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/) as unknown,
        idleTime: expect.any(Number) as unknown,
      });
      // Idle since the last step, on the same clock: at most the time between that step and the
      // answer, however slow the machine.
      expect(mine!.idleTime as number).toBeGreaterThanOrEqual(0);
      expect(mine!.idleTime as number).toBeLessThanOrEqual(asked - lastStep);
      expect(Date.parse(mine!.lastActivityAt as string)).toBeGreaterThanOrEqual(lastStep);
      expect(Date.parse(mine!.lastActivityAt as string)).toBeGreaterThanOrEqual(Date.parse(mine!.createdAt as string));

      const health = await app.inject({ method: 'GET', url: '/api/ussd/health' });
      expect(health.statusCode).toBe(200);
      expect(health.json()).toEqual({
        status: 'USSD service is running',
        timestamp: expect.any(String) as unknown,
        activeSessions: body.activeSessions,
      });
      expect(Number.isNaN(Date.parse(health.json<{ timestamp: string }>().timestamp))).toBe(false);

      const cleared = await app.inject({
        method: 'POST',
        url: '/api/ussd/sessions/clear',
        headers: { 'x-api-key': ADMIN_KEY },
      });
      expect(cleared.statusCode).toBe(200);
      expect(cleared.json()).toEqual({ message: 'All sessions cleared' });
      const after = (
        await app.inject({ method: 'GET', url: '/api/ussd/sessions', headers: { 'x-api-key': ADMIN_KEY } })
      ).json<unknown>();
      expect(after).toEqual({ activeSessions: 0, sessions: [] });
      expect((await app.inject({ method: 'GET', url: '/api/ussd/health' })).json()).toMatchObject({
        activeSessions: 0,
      });
    });
  });

  describe('webhook protection', () => {
    const dial = (phone: string) => ({ sessionId: `sec-${phone}`, phoneNumber: phone, text: '' });

    it('with USSD_WEBHOOK_SECRET, refuses requests without it or with a wrong one; accepts ?secret= and x-ussd-secret', async () => {
      const phone = uniquePhone();
      expect((await atPost(guardedApp, dial(phone))).status).toBe(403);
      expect((await atPost(guardedApp, dial(phone), { headers: { 'x-ussd-secret': `${SECRET}x` } })).status).toBe(403);
      expect((await atPost(guardedApp, dial(phone), { url: '/api/ussd/handler?secret=nope' })).status).toBe(403);
      expect(
        (await post(guardedApp, '/api/ussd/handler/generic', { ...dial(phone), serviceCode: '*383#' })).status,
      ).toBe(403);

      expect(await atPost(guardedApp, dial(phone), { url: `/api/ussd/handler?secret=${SECRET}` })).toEqual({
        status: 200,
        body: con(MAIN_MENU),
      });
      expect(await atPost(guardedApp, { ...dial(phone), text: '1' }, { headers: { 'x-ussd-secret': SECRET } })).toEqual(
        {
          status: 200,
          body: con(SCREENS.lenderPhone),
        },
      );
      const named = await post(guardedApp, `/api/ussd/handler/generic?secret=${SECRET}`, {
        ...dial(uniquePhone()),
        serviceCode: '*383#',
      });
      expect(named.status).toBe(200);
      expect(named.json()).toEqual(input(MAIN_MENU));
      // The right secret from outside the allowed range is still refused.
      expect(
        (
          await atPost(guardedApp, dial(uniquePhone()), {
            headers: { 'x-ussd-secret': SECRET },
            remoteAddress: '10.1.2.3',
          })
        ).status,
      ).toBe(403);
    });

    it('with USSD_ALLOWED_IPS, refuses other addresses and accepts those in range', async () => {
      const phone = uniquePhone();
      // app.inject comes from 127.0.0.1 unless told otherwise; nothing leaves this process.
      const refused = await atPost(closedApp, dial(phone));
      expect(refused.status).toBe(403);
      expect(refused.body).not.toContain('CON');
      expect(await atPost(closedApp, dial(phone), { remoteAddress: '10.20.30.40' })).toEqual({
        status: 200,
        body: con(MAIN_MENU),
      });
      // 127.0.0.1/32 admits loopback.
      expect(await atPost(guardedApp, dial(uniquePhone()), { headers: { 'x-ussd-secret': SECRET } })).toEqual({
        status: 200,
        body: con(MAIN_MENU),
      });
    });

    it('limits each phone to USSD_RATE_LIMIT_PER_MINUTE requests: the 6th of 5 gets a polite END', async () => {
      const phone = uniquePhone();
      const sessionId = `rl-${phone}`;
      const headers = { 'x-ussd-secret': SECRET };
      const texts = ['', '1', '1*00', '1*00*1', '1*00*1*0'];
      for (const text of texts) {
        const res = await atPost(guardedApp, { sessionId, phoneNumber: phone, text }, { headers });
        expect(res.body).toMatch(/^CON /);
      }
      const sixth = await atPost(guardedApp, { sessionId, phoneNumber: phone, text: '1*00*1*0*1' }, { headers });
      expect(sixth).toEqual({ status: 200, body: end(SCREENS.rateLimited) });
      // Another phone is not affected.
      expect(
        await atPost(
          guardedApp,
          { sessionId: `rl-${uniquePhone()}`, phoneNumber: uniquePhone(), text: '' },
          { headers },
        ),
      ).toEqual({
        status: 200,
        body: con(MAIN_MENU),
      });
      const json = await post(
        guardedApp,
        '/api/ussd/handler/generic',
        { sessionId: `rlg-${phone}`, phoneNumber: phone, text: '', serviceCode: '*383#' },
        headers,
      );
      expect(json.json()).toEqual({ responseType: 'notification', message: SCREENS.rateLimited });
      checkScreen(SCREENS.rateLimited);
    });
  });

  describe('metrics', () => {
    function sample(text: string, name: string, labels = ''): number {
      const line = text
        .split('\n')
        .find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
    }
    const scrape = async () => {
      const res = await app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      return res.body;
    };

    it('counts steps by screen, times the handler and gauges active sessions', async () => {
      const before = await scrape();
      const phone = uniquePhone();
      const sessionId = `met-${phone}`;
      await atPost(app, { sessionId, phoneNumber: phone, text: '' });
      await atPost(app, { sessionId, phoneNumber: phone, text: '1' });
      await atPost(app, { sessionId, phoneNumber: phone, text: '1*0722000000' });
      const after = await scrape();

      const steps = (text: string, screen: string) =>
        sample(text, 'deni_ussd_steps_total', `{screen="${screen}",outcome="continue"}`);
      expect(steps(after, 'MAIN') - steps(before, 'MAIN')).toBe(1);
      expect(steps(after, 'REQUEST_LOAN_PHONE') - steps(before, 'REQUEST_LOAN_PHONE')).toBe(1);
      expect(steps(after, 'REQUEST_LOAN_AMOUNT') - steps(before, 'REQUEST_LOAN_AMOUNT')).toBe(1);
      expect(sample(after, 'deni_ussd_handler_seconds_count') - sample(before, 'deni_ussd_handler_seconds_count')).toBe(
        3,
      );
      expect(after).toMatch(/^deni_ussd_handler_seconds_bucket\{le="0\.1"\} \d+$/m);
      expect(after).toMatch(/^# TYPE deni_ussd_active_sessions gauge$/m);
      const active = sample(after, 'deni_ussd_active_sessions');
      expect(active).toBeGreaterThanOrEqual(1);
      const health = (await app.inject({ method: 'GET', url: '/api/ussd/health' })).json<{
        activeSessions: number;
      }>();
      expect(active).toBe(health.activeSessions);
    });
  });

  describe('two API instances sharing Redis', () => {
    let a: NestFastifyApplication;
    let b: NestFastifyApplication;

    beforeAll(async () => {
      // The same prefix: one set of sessions (and locks) for both instances.
      const prefix = ownRedisPrefix();
      [a, b] = await Promise.all(
        [0, 1].map(() => startTestApp({ APP_ROLE: 'api', REDIS_KEY_PREFIX: prefix }).then((s) => s.app)),
      );
    });
    afterAll(() => Promise.all([a?.close(), b?.close()]));

    it('completes one loan request with its steps alternating between the instances', async () => {
      const borrower = uniquePhone();
      const lender = uniquePhone();
      const session = new AtSession(borrower);
      const steps: [string | null, string][] = [
        [null, con(MAIN_MENU)],
        ['1', con(SCREENS.lenderPhone)],
        [lender, con(SCREENS.amount)],
        ['5000', con(SCREENS.repayment)],
        ['500', con(SCREENS.confirm(lender, 5000, 500))],
        ['1', con(SCREENS.pinCreate)],
        ['4821', con(SCREENS.pinConfirm)],
        ['4821', con(SCREENS.sent(lender))],
      ];
      for (const [i, [typed, expected]] of steps.entries()) {
        const instance = i % 2 === 0 ? a : b;
        const reply = typed === null ? await session.dial(instance) : await session.reply(instance, typed);
        expect({ step: i, reply }).toEqual({ step: i, reply: expected });
      }
      // The gateway retries the last step on the other instance: the stored reply, no second loan.
      expect(await session.send(a)).toBe(con(SCREENS.sent(lender)));
      expect(await loansOf(a, borrower)).toEqual([
        expect.objectContaining({ status: 'PENDING', principal: 5000, repayment: 500, lender }),
      ]);
    });

    it('does the same over real sockets on two ports', async () => {
      await Promise.all([a.listen(0, '127.0.0.1'), b.listen(0, '127.0.0.1')]);
      const urls = [await a.getUrl(), await b.getUrl()].map((u) => u.replace('[::1]', '127.0.0.1'));
      expect(new Set(urls).size).toBe(2);
      for (const url of urls) expect(new URL(url).hostname).toBe('127.0.0.1');

      const borrower = uniquePhone();
      const lender = uniquePhone();
      const sessionId = `ATUid_ports_${borrower}`;
      const inputs = ['', '1', lender, '3000', '300', '1', '4821', '4821'];
      let text = '';
      let last = '';
      for (const [i, typed] of inputs.entries()) {
        text = i <= 1 ? typed : `${text}*${typed}`;
        const res = await fetch(`${urls[i % 2]}/api/ussd/handler`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            sessionId,
            serviceCode: '*383#',
            phoneNumber: `+${borrower}`,
            networkCode: '63902',
            text,
          }),
        });
        expect(res.status).toBe(200);
        last = checkAtBody(await res.text());
      }
      expect(last).toBe(con(SCREENS.sent(lender)));
      expect(await loansOf(b, borrower)).toEqual([expect.objectContaining({ principal: 3000, repayment: 300 })]);
    });
  });
});
