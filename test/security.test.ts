import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ConfigValidationError, parseEnv } from '../src/config/app-config.js';
import { createRootLogger } from '../src/logging/logger.js';
import { ADMIN_KEY, ApiClient } from './support/api-client.js';
import { ProcessTracker, type Spawned } from './support/processes.js';
import { productionEnv } from './support/production-env.js';
import { ownRedisPrefix, startTestApp, testConfig, uniquePhone } from './support/test-app.js';
import { atPost, SCREENS } from './support/ussd-clients.js';
import { memorySink } from './support/logs.js';

/**
 * The security promises of the docs (docs/security.md, and the webhooks' in docs/ussd.md and
 * docs/mpesa.md), as tests: admin and user routes refuse whoever may not use them, the USSD and
 * M-PESA webhooks hold their secrets and allowlists, rate limits hold across instances, secrets
 * never reach the logs, security headers are set, and production refuses to start without its
 * secrets.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

interface Operation {
  method: 'GET' | 'POST';
  path: string;
  security: string[];
}

/** Every operation of the OpenAPI document, with the security schemes it declares. */
async function operations(app: NestFastifyApplication): Promise<Operation[]> {
  const doc = (await app.inject({ method: 'GET', url: '/docs-json' })).json<{
    paths: Record<string, Record<string, { security?: Record<string, unknown>[] }>>;
  }>();
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase() as 'GET' | 'POST',
      path,
      security: (op.security ?? []).flatMap((s) => Object.keys(s)),
    })),
  );
}

/** A concrete URL for an OpenAPI path: {id} → a UUID, {phoneNumber} → a number, {gateway} → generic, … */
function concrete(path: string): string {
  return path
    .replace('{id}', '00000000-0000-4000-8000-000000000000')
    .replace('{phoneNumber}', '254700000001')
    .replace('{gateway}', 'generic')
    .replace('{checkoutRequestId}', 'ws_CO_01012024000000123456789123');
}

/** An HS256 JWT signed with `secret`, whatever its claims say (expired, foreign, …). */
function jwt(
  claims: Record<string, unknown>,
  secret: string,
  header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' },
): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64(header)}.${b64(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/** Routes anyone may call (checked one by one below); anything else in the docs must be guarded. */
const PUBLIC = new Set([
  'GET /health/live',
  'GET /health/ready',
  'GET /metrics',
  'POST /api/auth/otp',
  'POST /api/auth/pin',
  'POST /api/auth/login',
  // The USSD webhook: its secret and allowlist are tested below.
  'POST /api/ussd/handler',
  'POST /api/ussd/handler/{gateway}',
  'POST /api/ussd/test',
  'GET /api/ussd/health',
  // The phone simulator page's settings (USSD code, outcome names); its control routes take the key.
  'GET /simulator/api/config',
]);

/** The phone simulator's control routes (on outside production): each reads a number's messages or decides money. */
const SIMULATOR_CONTROL = [
  'GET /simulator/api/sms',
  'POST /simulator/api/mpesa/outcome',
  'GET /simulator/api/mpesa/pending',
  'POST /simulator/api/mpesa/pending/{checkoutRequestId}',
];

describe('security', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let ops: Operation[];
  const processes = new ProcessTracker();
  let production: Spawned;

  beforeAll(async () => {
    // Loading the whole application under tsx takes seconds: it starts now and runs alongside.
    production = processes.spawn(TSX, ['src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', NODE_ENV: 'production' },
    });
    ({ app } = await startTestApp({ ADMIN_API_KEY: ADMIN_KEY, APP_ROLE: 'api' }));
    api = new ApiClient(app);
    ops = await operations(app);
  });
  afterAll(() => Promise.all([app?.close(), processes.killAll()]));

  describe('admin routes', () => {
    it('every documented route is public by name, or declares the admin key or a bearer token', () => {
      expect(ops.length).toBeGreaterThan(25);
      const unguarded = ops
        .filter((o) => o.security.length === 0)
        .map((o) => `${o.method} ${o.path}`)
        .filter((o) => !PUBLIC.has(o));
      expect(unguarded).toEqual([]);
      // Anything named like an operator route is behind the key, the simulator's controls included.
      const adminLike = ops.filter((o) =>
        /\/admin\/|\/ussd\/(sessions|queue|sync)|^\/simulator\/api\/(?!config$)/.test(o.path),
      );
      expect(adminLike.length).toBeGreaterThanOrEqual(13);
      expect(
        ops
          .filter((o) => o.path.startsWith('/simulator/api/') && o.path !== '/simulator/api/config')
          .map((o) => `${o.method} ${o.path}`)
          .sort(),
      ).toEqual([...SIMULATOR_CONTROL].sort());
      for (const o of adminLike)
        expect({ route: `${o.method} ${o.path}`, security: o.security }).toEqual({
          route: `${o.method} ${o.path}`,
          security: ['admin-key'],
        });
    });

    it('refuses every admin route (and the queue dashboard) without the key and with a wrong one', async () => {
      const admin = ops.filter((o) => o.security.includes('admin-key'));
      const routes = [
        ...admin.map((o) => ({ method: o.method, url: concrete(o.path) })),
        { method: 'GET' as const, url: '/admin/queues' },
        { method: 'GET' as const, url: '/admin/queues/api/queues' },
      ];
      expect(routes.length).toBeGreaterThanOrEqual(15);
      for (const route of SIMULATOR_CONTROL)
        expect(routes.map((r) => `${r.method} ${r.url.split('?')[0]}`)).toContain(concrete(route));
      for (const { method, url } of routes) {
        for (const headers of [
          {},
          { 'x-api-key': 'wrong-key-0123456789' },
          { 'x-api-key': '' },
          { 'x-api-key': `${ADMIN_KEY} ` },
          { 'x-api-key': ADMIN_KEY.toUpperCase() },
        ]) {
          const res = await app.inject({ method, url, headers, ...(method === 'POST' ? { payload: {} } : {}) });
          expect({ method, url, headers, status: res.statusCode, code: res.json<{ code: unknown }>().code }).toEqual({
            method,
            url,
            headers,
            status: 401,
            code: 'AUTH.ADMIN_KEY_REQUIRED',
          });
        }
      }
      // The key opens them (reads only: the writes would act on the shared database).
      for (const { method, url } of routes.filter((r) => r.method === 'GET')) {
        const byPhone = /payments|notifications|\/simulator\/api\/(sms|mpesa\/pending)$/.test(url);
        const res = await app.inject({
          method,
          url: byPhone ? `${url}?phoneNumber=254700000001` : url,
          headers: { 'x-api-key': ADMIN_KEY },
        });
        expect({ url, status: res.statusCode }).toEqual({ url, status: 200 });
      }
    });

    it('leaves the simulator page and its settings open, and says there that the controls need the key', async () => {
      for (const url of ['/simulator', '/simulator/simulator.js', '/simulator/api/config']) {
        expect([url, (await app.inject({ method: 'GET', url })).statusCode]).toEqual([url, 200]);
      }
      const config = (await app.inject({ method: 'GET', url: '/simulator/api/config' })).json<
        Record<string, unknown>
      >();
      expect(config).toMatchObject({ adminKeyRequired: true, serviceCode: expect.any(String) as unknown });
      expect(JSON.stringify(config)).not.toContain(ADMIN_KEY);
    });
  });

  describe('user routes', () => {
    let borrower: { phone: string; token: string };
    let lender: { phone: string; token: string };
    let stranger: { phone: string; token: string };
    let loanId: string;

    beforeAll(async () => {
      [borrower, lender, stranger] = await Promise.all(
        [0, 1, 2].map(async () => {
          const phone = uniquePhone();
          return { phone, token: await api.onboard(phone, '5930') };
        }),
      );
      const loan = await api.call('POST', '/api/loans', {
        token: borrower.token,
        body: { lenderPhoneNumber: lender.phone, amount: 1000, repaymentPerDeposit: 100, pin: '5930' },
      });
      expect(loan.status).toBe(201);
      loanId = (loan.body as { id: string }).id;
    });

    it('refuse no token, garbage, forged, expired and alg=none tokens', async () => {
      const user = ops.filter((o) => o.security.includes('bearer'));
      expect(user.length).toBeGreaterThanOrEqual(14);
      const config = testConfig();
      const claims = { sub: '00000000-0000-4000-8000-000000000000', phone: borrower.phone };
      const now = Math.floor(Date.now() / 1000);
      const tokens: [string, string | undefined][] = [
        ['none', undefined],
        ['garbage', 'Bearer not.a.token'],
        ['empty', 'Bearer '],
        ['basic', `Basic ${Buffer.from('a:b').toString('base64')}`],
        ['raw token, no scheme', borrower.token],
        ['forged signature', `Bearer ${borrower.token.slice(0, -4)}AAAA`],
        ['another secret', `Bearer ${jwt({ ...claims, iat: now, exp: now + 600 }, 'x'.repeat(40))}`],
        ['expired', `Bearer ${jwt({ ...claims, iat: now - 3600, exp: now - 60 }, config.security.jwtSecret)}`],
        [
          'alg none',
          `Bearer ${jwt({ ...claims, iat: now, exp: now + 600 }, '', { alg: 'none', typ: 'JWT' }).replace(/[^.]+$/, '')}`,
        ],
        [
          'HS512',
          `Bearer ${jwt({ ...claims, iat: now, exp: now + 600 }, config.security.jwtSecret, { alg: 'HS512', typ: 'JWT' })}`,
        ],
      ];
      for (const o of user) {
        for (const [what, authorization] of tokens) {
          const res = await app.inject({
            method: o.method,
            url: concrete(o.path),
            headers: authorization ? { authorization } : {},
            ...(o.method === 'POST' ? { payload: {} } : {}),
          });
          expect({ route: `${o.method} ${o.path}`, what, status: res.statusCode }).toEqual({
            route: `${o.method} ${o.path}`,
            what,
            status: 401,
          });
        }
      }
      // A token signed with the right secret and still valid is accepted (the check can pass).
      expect((await api.call('GET', '/api/wallet', { token: borrower.token })).status).toBe(200);
    });

    it("someone else's loan is a 404 to a stranger, and each party acts only in their role", async () => {
      expect((await api.call('GET', `/api/loans/${loanId}`, { token: borrower.token })).status).toBe(200);
      expect((await api.call('GET', `/api/loans/${loanId}`, { token: lender.token })).status).toBe(200);
      const asStranger = await api.call('GET', `/api/loans/${loanId}`, { token: stranger.token });
      expect(asStranger).toMatchObject({ status: 404 });
      for (const action of ['approve', 'decline', 'cancel']) {
        const res = await api.call('POST', `/api/loans/${loanId}/${action}`, {
          token: stranger.token,
          body: action === 'approve' ? { pin: '5930' } : {},
        });
        expect({ action, status: res.status }).toEqual({ action, status: 404 });
      }
      const repay = await api.call('POST', `/api/loans/${loanId}/repay`, {
        token: stranger.token,
        body: { amount: 100, pin: '5930' },
        headers: { 'idempotency-key': 'stranger-1' },
      });
      expect(repay.status).toBe(404);
      const listed = await api.call('GET', '/api/loans', { token: stranger.token });
      expect((listed.body as { items: { id: string }[] }).items.map((l) => l.id)).not.toContain(loanId);
      // The borrower cannot approve their own request, nor the lender cancel it.
      expect(
        await api.call('POST', `/api/loans/${loanId}/approve`, { token: borrower.token, body: { pin: '5930' } }),
      ).toMatchObject({ status: 403, body: { code: 'LOAN.NOT_LENDER' } });
      expect(await api.call('POST', `/api/loans/${loanId}/cancel`, { token: lender.token })).toMatchObject({
        status: 403,
        body: { code: 'LOAN.NOT_BORROWER' },
      });
      expect((await api.call('GET', `/api/loans/${loanId}`, { token: borrower.token })).body).toMatchObject({
        status: 'PENDING',
      });
    });
  });

  describe('webhooks', () => {
    const USSD_SECRET = 'ussd-secret-for-security-test-0123';
    const MPESA_SECRET = 'mpesa-callback-secret-for-tests-0123';
    let guarded: NestFastifyApplication;

    beforeAll(async () => {
      ({ app: guarded } = await startTestApp({
        ADMIN_API_KEY: ADMIN_KEY,
        APP_ROLE: 'api',
        USSD_WEBHOOK_SECRET: USSD_SECRET,
        USSD_ALLOWED_IPS: '10.0.0.0/8,2001:db8::/32',
        MPESA_CALLBACK_SECRET: MPESA_SECRET,
        MPESA_CALLBACK_ALLOWED_IPS: '196.201.214.0/24',
      }));
    });
    afterAll(() => guarded?.close());

    it('the USSD webhook needs its secret and an allowed address, on every route and dialect', async () => {
      const phone = uniquePhone();
      const at = {
        sessionId: `sec-${phone}`,
        serviceCode: '*383#',
        phoneNumber: phone,
        networkCode: '63902',
        text: '',
      };
      const targets: { url: string; contentType: string; payload: string }[] = [
        {
          url: '/api/ussd/handler',
          contentType: 'application/x-www-form-urlencoded',
          payload: new URLSearchParams(at).toString(),
        },
        {
          url: '/api/ussd/handler',
          contentType: 'application/json',
          payload: JSON.stringify({ sessionId: `g-${phone}`, phoneNumber: phone, text: '', serviceCode: '*383#' }),
        },
        {
          url: '/api/ussd/handler/africastalking',
          contentType: 'application/x-www-form-urlencoded',
          payload: new URLSearchParams({ ...at, sessionId: `a-${phone}` }).toString(),
        },
        {
          url: '/api/ussd/handler/generic',
          contentType: 'application/json',
          payload: JSON.stringify({ sessionId: `n-${phone}`, phoneNumber: phone, text: '', serviceCode: '*383#' }),
        },
        {
          url: '/api/ussd/handler/hubtel',
          contentType: 'application/json',
          payload: JSON.stringify({
            Type: 'Initiation',
            Mobile: phone,
            SessionId: `h-${phone}`,
            ServiceCode: '*383#',
            Message: '*383#',
          }),
        },
        {
          url: '/api/ussd/handler/nalo',
          contentType: 'application/json',
          payload: JSON.stringify({ USERID: 'u', MSISDN: phone, USERDATA: '*383#', MSGTYPE: true }),
        },
        {
          url: '/api/ussd/handler/arkesel',
          contentType: 'application/json',
          payload: JSON.stringify({
            sessionID: `k-${phone}`,
            userID: 'u',
            msisdn: phone,
            userData: '*383#',
            newSession: true,
          }),
        },
        {
          url: '/api/ussd/test',
          contentType: 'application/json',
          payload: JSON.stringify({ sessionId: `t-${phone}`, phoneNumber: phone, text: '' }),
        },
      ];
      const inside = '10.1.2.3';
      for (const t of targets) {
        const send = (secret: { header?: string; query?: string }, remoteAddress: string) =>
          guarded.inject({
            method: 'POST',
            url: secret.query === undefined ? t.url : `${t.url}?secret=${encodeURIComponent(secret.query)}`,
            headers: {
              'content-type': t.contentType,
              ...(secret.header === undefined ? {} : { 'x-ussd-secret': secret.header }),
            },
            payload: t.payload,
            remoteAddress,
          });
        const cases: [string, { header?: string; query?: string }, string, number][] = [
          ['no secret', {}, inside, 403],
          ['wrong secret', { header: 'wrong-secret-0123456789' }, inside, 403],
          ['secret with a suffix', { header: `${USSD_SECRET}x` }, inside, 403],
          ['wrong ?secret=', { query: USSD_SECRET.slice(0, -1) }, inside, 403],
          ['right secret, outside the allowlist', { header: USSD_SECRET }, '127.0.0.1', 403],
          ['right secret, another outside address', { query: USSD_SECRET }, '11.0.0.1', 403],
          ['right secret, outside IPv6', { header: USSD_SECRET }, '2001:db9::1', 403],
          ['right header, inside', { header: USSD_SECRET }, inside, 200],
          ['right ?secret=, inside IPv6', { query: USSD_SECRET }, '2001:db8::7', 200],
        ];
        for (const [what, secret, ip, expected] of cases) {
          const res = await send(secret, ip);
          expect({ url: t.url, what, status: res.statusCode }).toEqual({ url: t.url, what, status: expected });
          if (expected === 403) expect(res.body).not.toMatch(/CON |M-PESA LOANS/);
        }
      }
    });

    it('the M-PESA callbacks need the secret path (else 404) and an allowed address (else 403)', async () => {
      // A withdrawal's Transaction Status answers come to routes naming it (an unknown one here: answered 200, ignored).
      const withdrawal = '00000000-0000-4000-8000-000000000000';
      const kinds = [
        'stk',
        'c2b/validation',
        'c2b/confirmation',
        'b2c/result',
        'b2c/timeout',
        `b2c/status/${withdrawal}/result`,
        `b2c/status/${withdrawal}/timeout`,
      ];
      const body = (kind: string) => {
        const id = `SEC${Date.now().toString(36).toUpperCase()}`;
        if (kind === 'stk')
          return {
            Body: {
              stkCallback: {
                MerchantRequestID: `m-${id}`,
                CheckoutRequestID: `ws_CO_${id}`,
                ResultCode: 1032,
                ResultDesc: 'Request cancelled by user',
              },
            },
          };
        if (kind.startsWith('c2b'))
          return {
            TransactionType: 'Pay Bill',
            TransID: id,
            TransTime: '20240101000000',
            TransAmount: '10.00',
            BusinessShortCode: '600966',
            BillRefNumber: 'nobody',
            MSISDN: '2547 ***** 126',
          };
        return {
          Result: {
            ResultType: 0,
            ResultCode: 2001,
            ResultDesc: 'failed',
            OriginatorConversationID: `o-${id}`,
            ConversationID: `c-${id}`,
          },
        };
      };
      const gateway = '196.201.214.7';
      for (const kind of kinds) {
        const post = (secret: string, remoteAddress: string) =>
          guarded.inject({
            method: 'POST',
            url: `/api/mpesa/callbacks/${secret}/${kind}`,
            payload: body(kind),
            remoteAddress,
          });
        for (const wrong of [
          'nope',
          MPESA_SECRET.slice(0, -1),
          `${MPESA_SECRET}x`,
          MPESA_SECRET.toUpperCase(),
          'deni-development-mpesa-callback',
        ]) {
          const res = await post(wrong, gateway);
          expect({ kind, wrong, status: res.statusCode }).toEqual({ kind, wrong, status: 404 });
        }
        expect((await post(MPESA_SECRET, '127.0.0.1')).statusCode).toBe(403);
        expect((await post(MPESA_SECRET, '196.201.215.7')).statusCode).toBe(403);
        const ok = await post(MPESA_SECRET, gateway);
        expect({ kind, status: ok.statusCode }).toEqual({ kind, status: 200 });
      }
    });
  });

  describe('rate limits across two instances sharing one Redis prefix', () => {
    let a: NestFastifyApplication;
    let b: NestFastifyApplication;

    beforeAll(async () => {
      const prefix = ownRedisPrefix();
      [a, b] = await Promise.all(
        [0, 1].map(() =>
          startTestApp({ APP_ROLE: 'api', REDIS_KEY_PREFIX: prefix, USSD_RATE_LIMIT_PER_MINUTE: '6' }).then(
            (s) => s.app,
          ),
        ),
      );
    });
    afterAll(() => Promise.all([a?.close(), b?.close()]));

    it('USSD_RATE_LIMIT_PER_MINUTE counts one phone across both instances', async () => {
      const phone = uniquePhone();
      const sessionId = `rl2-${phone}`;
      const texts = ['', '1', '1*00', '1*00*1', '1*00*1*00', '1*00*1*00*1'];
      for (const [i, text] of texts.entries()) {
        const res = await atPost(i % 2 ? b : a, { sessionId, phoneNumber: phone, text });
        expect({ i, body: res.body.slice(0, 4) }).toEqual({ i, body: 'CON ' });
      }
      // The 7th, on either instance, is over the limit of 6.
      for (const instance of [a, b]) {
        expect(await atPost(instance, { sessionId, phoneNumber: phone, text: '1*00*1*00*1*00' })).toEqual({
          status: 200,
          body: `END ${SCREENS.rateLimited}`,
        });
      }
      // Another phone is untouched.
      expect(
        (await atPost(b, { sessionId: `rl2-${uniquePhone()}`, phoneNumber: uniquePhone(), text: '' })).body,
      ).toMatch(/^CON /);
    });

    it('login attempts from one address are limited to 30 per 10 minutes across both instances', async () => {
      const ip = '203.0.113.77';
      const login = (instance: NestFastifyApplication, phone: string) =>
        instance.inject({
          method: 'POST',
          url: '/api/auth/login',
          payload: { phoneNumber: phone, pin: '5930' },
          remoteAddress: ip,
        });
      for (let i = 0; i < 30; i++) {
        const res = await login(i % 2 ? b : a, uniquePhone());
        expect({ i, status: res.statusCode }).not.toEqual({ i, status: 429 });
      }
      for (const instance of [a, b]) {
        const res = await login(instance, uniquePhone());
        expect(res.statusCode).toBe(429);
        expect(res.json()).toMatchObject({ code: 'REQUEST.RATE_LIMITED' });
      }
      // Another address still gets through to the PIN check.
      expect(
        (
          await a.inject({
            method: 'POST',
            url: '/api/auth/login',
            payload: { phoneNumber: uniquePhone(), pin: '5930' },
            remoteAddress: '203.0.113.78',
          })
        ).statusCode,
      ).not.toBe(429);
    });
  });

  describe('logs', () => {
    const secrets = {
      ADMIN_API_KEY: 'log-test-admin-key-7f3a9c2e1b',
      JWT_SECRET: 'log-test-jwt-secret-4b8d2f6a0c9e7135ab',
      PIN_PEPPER: 'log-test-pin-pepper-9e1c5a7f3b2d8046cd',
      MPESA_CALLBACK_SECRET: 'logtestmpesacallback8c2e4a6b',
      USSD_WEBHOOK_SECRET: 'log-test-ussd-secret-3d5f7b9a',
    };
    let lines: string[] = [];
    let logged: NestFastifyApplication;

    beforeAll(async () => {
      const sink = memorySink();
      lines = sink.lines;
      // Its own simulators: the withdrawal below reaches the Daraja simulator, whose answers are logged too.
      ({ app: logged } = await startTestApp(
        { ...secrets, APP_ROLE: 'all', LOG_LEVEL: 'trace' },
        { logger: (config) => createRootLogger(config, sink.stream) },
      ));
    });
    afterAll(() => logged?.close());

    it('never contain PINs, one-time codes, tokens or secrets', async () => {
      const admin = { 'x-api-key': secrets.ADMIN_API_KEY };
      const call = async (method: 'GET' | 'POST', url: string, body?: object, headers: Record<string, string> = {}) => {
        const res = await logged.inject({ method, url, headers, ...(body ? { payload: body } : {}) });
        return { status: res.statusCode, body: res.body ? res.json<Record<string, unknown>>() : {} };
      };
      // OTP onboarding and a login with the PIN.
      const phone = uniquePhone();
      const pin = '6418';
      expect((await call('POST', '/api/auth/otp', { phoneNumber: phone })).status).toBe(202);
      const outbox = (await call('GET', `/api/admin/notifications?phoneNumber=${phone}`, undefined, admin))
        .body as unknown as { template: string; body: string }[];
      const otp = outbox.find((n) => n.template === 'auth.otp')!.body.match(/\b(\d{6})\b/)![1];
      expect((await call('POST', '/api/auth/pin', { phoneNumber: phone, otp, pin })).status).toBe(200);
      const wrongPin = await call('POST', '/api/auth/login', { phoneNumber: phone, pin: '7052' });
      expect(wrongPin.status).toBe(401);
      const login = await call('POST', '/api/auth/login', { phoneNumber: phone, pin });
      expect(login.status).toBe(200);
      const token = login.body.accessToken as string;
      // A withdrawal with the PIN, after a deposit.
      expect(
        (
          await call(
            'POST',
            '/api/admin/deposits',
            { phoneNumber: phone, amount: 500, reference: `LOG${phone}` },
            admin,
          )
        ).status,
      ).toBe(201);
      const withdrawal = await call(
        'POST',
        '/api/wallet/withdrawals',
        { amount: 100, pin },
        { authorization: `Bearer ${token}` },
      );
      expect(withdrawal.status).toBe(202);
      // A USSD journey that creates a PIN, through the secret in the query string.
      const dialer = uniquePhone();
      const ussdPin = '3870';
      const lender = uniquePhone();
      let text = '';
      const inputs = ['', '1', `0${lender.slice(3)}`, '2000', '200', '1', ussdPin, ussdPin];
      let last = '';
      for (const [i, typed] of inputs.entries()) {
        text = i <= 1 ? typed : `${text}*${typed}`;
        const res = await atPost(
          logged,
          { sessionId: `log-${dialer}`, phoneNumber: dialer, text },
          { url: `/api/ussd/handler?secret=${secrets.USSD_WEBHOOK_SECRET}` },
        );
        last = res.body;
      }
      expect(last).toMatch(/^CON SUCCESS/);
      // An M-PESA callback on its secret path.
      const cb = await logged.inject({
        method: 'POST',
        url: `/api/mpesa/callbacks/${secrets.MPESA_CALLBACK_SECRET}/b2c/timeout`,
        payload: {
          Result: { ResultCode: 1, ResultDesc: 'x', OriginatorConversationID: 'o-log', ConversationID: 'c-log' },
        },
      });
      expect(cb.statusCode).toBe(200);
      await new Promise((r) => setTimeout(r, 300));

      const text_ = lines.join('');
      // The capture works, and saw the requests above.
      expect(text_).toContain('request completed');
      expect(text_).toContain('/api/wallet/withdrawals');
      expect(text_).toContain('/api/mpesa/callbacks/:secret/b2c/timeout');
      expect(text_).toContain('/api/ussd/handler');
      // Whole-token matches for short numbers (a PIN may occur inside a uuid or a phone number).
      const standalone = (digits: string) => new RegExp(`(?<![0-9A-Za-z])${digits}(?![0-9A-Za-z])`);
      for (const [what, digits] of [
        ['PIN', pin],
        ['wrong PIN', '7052'],
        ['USSD PIN', ussdPin],
        ['OTP', otp],
      ] as const) {
        const m = text_.match(standalone(digits));
        expect({ what, found: m ? text_.slice(Math.max(0, m.index! - 200), m.index! + 50) : null }).toEqual({
          what,
          found: null,
        });
      }
      expect(text_).not.toContain(`${ussdPin}*${ussdPin}`);
      for (const [name, value] of [
        ...Object.entries(secrets),
        ['token', token],
        ['token signature', token.split('.')[2]],
      ]) {
        expect({ name, leaked: text_.includes(value) }).toEqual({ name, leaked: false });
      }
    });
  });

  it('sets the security headers and no x-powered-by', async () => {
    for (const url of ['/health/live', '/api/wallet', '/nope', '/docs']) {
      const res = await app.inject({ method: 'GET', url });
      expect({ url, nosniff: res.headers['x-content-type-options'] }).toEqual({ url, nosniff: 'nosniff' });
      // No CSP (Swagger UI and bull-board need inline scripts): framing is refused by X-Frame-Options.
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['strict-transport-security']).toMatch(/^max-age=\d{7,}; includeSubDomains/);
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['x-powered-by']).toBeUndefined();
      expect(res.headers.server).toBeUndefined();
    }
  });

  describe('production configuration', () => {
    const REQUIRED = [
      'ADMIN_API_KEY',
      'JWT_SECRET',
      'PIN_PEPPER',
      'USSD_WEBHOOK_SECRET',
      'MPESA_CALLBACK_SECRET',
      'MPESA_BASE_URL',
      'SAFARICOM_CONSUMER_SECRET',
      'MPESA_INITIATOR_PASSWORD',
    ];

    it('the config loader refuses NODE_ENV=production with defaults, naming each missing secret', () => {
      let error: unknown;
      try {
        parseEnv({ NODE_ENV: 'production' });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigValidationError);
      for (const name of REQUIRED)
        expect((error as Error).message).toContain(`${name}: required when NODE_ENV=production`);
      // Each one alone is enough to refuse.
      for (const name of ['ADMIN_API_KEY', 'JWT_SECRET', 'PIN_PEPPER', 'MPESA_CALLBACK_SECRET']) {
        const env = { ...productionEnv() } as Record<string, string | undefined>;
        delete env[name];
        expect(() => parseEnv(env)).toThrow(name);
      }
      // Weak values are refused too.
      expect(() => parseEnv({ ...productionEnv(), ADMIN_API_KEY: 'short' })).toThrow('ADMIN_API_KEY');
      expect(() => parseEnv({ ...productionEnv(), JWT_SECRET: 'short' })).toThrow('JWT_SECRET');
      // And everything set is accepted: the refusal above is about what is missing.
      expect(parseEnv(productionEnv()).NODE_ENV).toBe('production');
    });

    it('the process itself (tsx src/main.ts, empty environment) exits with 78 and names the missing secrets', async () => {
      const exit = await Promise.race([
        production.exited,
        new Promise<null>((r) => setTimeout(() => r(null), 50_000).unref()),
      ]);
      const output = production.output.stdout + production.output.stderr;
      expect({ exit, output: exit ? '' : output }).toEqual({ exit: { code: 78, signal: null }, output: '' });
      expect(output).toContain('Refusing to start');
      for (const name of REQUIRED) expect(output).toContain(`${name}: required when NODE_ENV=production`);
    }, 60_000);
  });
});
