import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ADMIN_KEY, ApiClient } from './support/api-client.js';
import { ensureChromium } from './support/chromium.js';
import { freePort } from './support/processes.js';
import { startTestApp, uniquePhone } from './support/test-app.js';
import { atPost } from './support/ussd-clients.js';

/**
 * No cross-site writes (docs/security.md): a page on another origin cannot make a visitor's browser
 * change anything here, whichever route it aims at, while browsers on Deni's own pages (the
 * simulator, Swagger UI, bull-board) and callers that are not browsers at all (USSD gateways,
 * Daraja, the mobile app, curl) go through as before.
 */

const HOST = 'deni.test:5000';
const OWN_ORIGIN = `http://${HOST}`;
const CODE = 'REQUEST.CROSS_SITE';
/** The development default of MPESA_CALLBACK_SECRET (the test configuration sets none). */
const CALLBACK_SECRET = 'deni-development-mpesa-callback';

/** The exact bytes of a provider fixture (see test/fixtures/providers/SOURCES.md). */
const fixture = (name: string) => readFileSync(join(process.cwd(), 'test/fixtures/providers', name), 'utf8');

/** What a browser on another site sends with a form post or a fetch, one way or another. */
const FOREIGN: [string, Record<string, string>][] = [
  ['another origin', { origin: 'http://evil.example' }],
  ['an opaque origin (sandboxed frame, data: URL)', { origin: 'null' }],
  ['Sec-Fetch-Site: cross-site alone', { 'sec-fetch-site': 'cross-site' }],
  ['Sec-Fetch-Site: cross-site with its origin', { 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' }],
  ['a sibling subdomain (same-site)', { 'sec-fetch-site': 'same-site', origin: 'http://admin.deni.test:5000' }],
  ['our host over another scheme', { origin: `https://${HOST}` }],
  ['our host on another port', { origin: 'http://deni.test:5001' }],
];

/** Every route of the app with the methods it answers, read from Fastify's own route tree. */
function routesOf(app: NestFastifyApplication): { method: string; path: string }[] {
  const tree = app.getHttpAdapter().getInstance().printRoutes({ commonPrefix: false });
  const parents: string[] = [];
  const routes: { method: string; path: string }[] = [];
  for (const line of tree.split('\n')) {
    const m = line.match(/^([│ ]*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/);
    if (!m) continue;
    const depth = m[1].length / 4;
    parents.length = depth;
    parents.push(m[2]);
    for (const method of m[3]?.split(', ') ?? []) routes.push({ method, path: parents.join('') });
  }
  return routes;
}

/** A URL for a route path: each parameter and wildcard filled in. */
const concrete = (path: string) => path.replace(/:[A-Za-z]+/g, 'x1').replace(/\*/g, 'x1');

describe('cross-site writes', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;

  beforeAll(async () => {
    ({ app } = await startTestApp({ ADMIN_API_KEY: ADMIN_KEY, APP_ROLE: 'api' }));
    api = new ApiClient(app);
  });
  afterAll(() => app?.close());

  /** Opens a USSD session (the gateway's way: no Origin) and says whether it is listed. */
  const openSession = async () => {
    const phone = uniquePhone();
    const sessionId = `xs-${phone}`;
    expect((await atPost(app, { sessionId, phoneNumber: phone, text: '' })).body).toMatch(/^CON /);
    return sessionId;
  };
  const listed = async (sessionId: string) => {
    const res = await api.call<{ sessions: { sessionId: string }[] }>('GET', '/api/ussd/sessions', { admin: true });
    expect(res.status).toBe(200);
    return res.body.sessions.some((s) => s.sessionId === sessionId);
  };

  const clearSessions = (headers: Record<string, string>) =>
    app.inject({
      method: 'POST',
      url: '/api/ussd/sessions/clear',
      headers: { host: HOST, 'x-api-key': ADMIN_KEY, ...headers },
    });
  const setOutcome = (headers: Record<string, string>) =>
    app.inject({
      method: 'POST',
      url: '/simulator/api/mpesa/outcome',
      headers: { host: HOST, 'x-api-key': ADMIN_KEY, ...headers },
      payload: { phoneNumber: uniquePhone(), outcome: 'cancelled' },
    });

  it('refuses clearing the USSD sessions from another site, even with the admin key, and clears nothing', async () => {
    const sessionId = await openSession();
    for (const [what, headers] of FOREIGN) {
      const res = await clearSessions(headers);
      expect({ what, status: res.statusCode, code: res.json<{ code: string }>().code }).toEqual({
        what,
        status: 403,
        code: CODE,
      });
      expect(res.json()).toMatchObject({ statusCode: 403, message: expect.any(String) as unknown });
      expect(res.headers['x-request-id']).toEqual(res.json<{ requestId: string }>().requestId);
    }
    expect(await listed(sessionId)).toBe(true);
  });

  it("refuses the simulator's M-PESA outcome route from another site", async () => {
    for (const [what, headers] of FOREIGN) {
      const res = await setOutcome(headers);
      expect({ what, status: res.statusCode, code: res.json<{ code: string }>().code }).toEqual({
        what,
        status: 403,
        code: CODE,
      });
    }
  });

  it("lets a browser on Deni's own pages write (the simulator page, Swagger UI, bull-board)", async () => {
    const sameOrigin: Record<string, string>[] = [
      { origin: OWN_ORIGIN },
      { origin: OWN_ORIGIN, 'sec-fetch-site': 'same-origin' },
      { 'sec-fetch-site': 'same-origin' },
      // The default port may or may not be spelled out on either side.
      { origin: 'http://deni.test', host: 'deni.test:80' },
      { origin: 'http://DENI.test:80', host: 'deni.test' },
    ];
    for (const headers of sameOrigin) {
      const sessionId = await openSession();
      const cleared = await clearSessions(headers);
      expect({ headers, status: cleared.statusCode }).toEqual({ headers, status: 200 });
      expect(await listed(sessionId)).toBe(false);
      const outcome = await setOutcome(headers);
      expect({ headers, status: outcome.statusCode, body: outcome.json<unknown>() }).toEqual({
        headers,
        status: 200,
        body: { phoneNumber: expect.any(String) as unknown, outcome: 'cancelled' },
      });
    }
  });

  it('lets callers that are not browsers (no Origin, no Sec-Fetch-Site) write: curl, an operator script', async () => {
    const sessionId = await openSession();
    expect((await clearSessions({})).statusCode).toBe(200);
    expect(await listed(sessionId)).toBe(false);
    expect((await setOutcome({})).statusCode).toBe(200);
  });

  it("leaves the USSD gateways' webhook as it was (the gateway's exact bytes, no Origin)", async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/ussd/handler',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: fixture('at-ussd-request-first-dial.txt'),
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/^CON /);
    // The same request from a page on another site is refused.
    const forged = await app.inject({
      method: 'POST',
      url: '/api/ussd/handler',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.example' },
      payload: fixture('at-ussd-request-first-dial.txt'),
    });
    expect([forged.statusCode, forged.json<{ code: string }>().code]).toEqual([403, CODE]);
  });

  it("leaves Daraja's callbacks as they were (the provider's exact bytes, no Origin)", async () => {
    for (const [kind, name] of [
      ['stk', 'daraja-stk-callback-cancelled.json'],
      ['c2b/validation', 'daraja-c2b-validation.json'],
      ['b2c/result', 'daraja-b2c-result-failure.json'],
    ]) {
      const res = await app.inject({
        method: 'POST',
        url: `/api/mpesa/callbacks/${CALLBACK_SECRET}/${kind}`,
        headers: { 'content-type': 'application/json' },
        payload: fixture(name),
      });
      expect({ kind, status: res.statusCode }).toEqual({ kind, status: 200 });
    }
  });

  it('leaves the mobile app (bearer token, no Origin) as it was: sync push and a REST write', async () => {
    const token = await api.onboard(uniquePhone());
    const push = await api.call<{ results: { status: string }[] }>('POST', '/api/sync/push', {
      token,
      body: {
        deviceId: 'phone-xs',
        operations: [
          {
            opId: randomUUID(),
            type: 'loan.request',
            payload: { lenderPhoneNumber: uniquePhone(), amount: 2000, repaymentPerDeposit: 200 },
            clientTimestamp: new Date().toISOString(),
          },
        ],
      },
    });
    expect({ status: push.status, results: push.body.results?.map((r) => r.status) }).toEqual({
      status: 200,
      results: ['applied'],
    });
    const loan = await api.call('POST', '/api/loans', {
      token,
      body: { lenderPhoneNumber: uniquePhone(), amount: 1000, repaymentPerDeposit: 100, pin: '4821' },
    });
    expect(loan.status).toBe(201);
  });

  it('refuses a cross-site request on every route that changes state, those added later included', async () => {
    const unsafe = routesOf(app).filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method));
    const names = unsafe.map((r) => `${r.method} ${r.path}`);
    // The route list is complete: Nest's routes, bull-board's, and the simulator's.
    for (const expected of [
      'POST /api/ussd/sessions/clear',
      'POST /api/ussd/handler',
      'POST /api/ussd/handler/:gateway',
      'POST /api/mpesa/callbacks/:secret/stk',
      'POST /api/sync/push',
      'POST /simulator/api/mpesa/outcome',
      'POST /simulator/api/mpesa/pending/:checkoutRequestId',
      'PUT /admin/queues/api/queues/:queueName/empty',
      'PATCH /admin/queues/api/queues/:queueName/:jobId/update-data',
      'POST /admin/queues/api/queues/:queueName/add',
    ])
      expect(names).toContain(expected);
    expect(unsafe.length).toBeGreaterThanOrEqual(40);
    for (const { method, path } of unsafe) {
      for (const [what, headers] of FOREIGN) {
        const res = await app.inject({
          method: method as 'POST',
          url: concrete(path),
          headers: { host: HOST, ...headers },
          payload: {},
        });
        expect({
          route: `${method} ${path}`,
          what,
          status: res.statusCode,
          code: res.json<{ code: string }>().code,
        }).toEqual({ route: `${method} ${path}`, what, status: 403, code: CODE });
      }
    }
  });

  it('leaves reads alone: a page on another site may link to or load them (CORS still keeps their answers from it)', async () => {
    for (const url of ['/health/live', '/simulator', '/api/ussd/health']) {
      const res = await app.inject({
        method: 'GET',
        url,
        headers: { host: HOST, origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' },
      });
      expect({ url, status: res.statusCode }).toEqual({ url, status: 200 });
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    }
  });
});

describe('cross-site writes behind a TLS proxy (TRUST_PROXY)', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    ({ app } = await startTestApp({ ADMIN_API_KEY: ADMIN_KEY, APP_ROLE: 'api', TRUST_PROXY: '127.0.0.1' }));
  });
  afterAll(() => app?.close());

  const clear = (headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
    app.inject({
      method: 'POST',
      url: '/api/ussd/sessions/clear',
      headers: { host: '10.0.0.5:5000', 'x-api-key': ADMIN_KEY, ...headers },
      remoteAddress,
    });

  it("takes the service's own origin from the trusted proxy's X-Forwarded-Proto and X-Forwarded-Host", async () => {
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'deni.example' };
    expect((await clear({ ...forwarded, origin: 'https://deni.example' })).statusCode).toBe(200);
    for (const origin of ['http://deni.example', 'https://evil.example', 'http://10.0.0.5:5000']) {
      const res = await clear({ ...forwarded, origin });
      expect({ origin, status: res.statusCode, code: res.json<{ code: string }>().code }).toEqual({
        origin,
        status: 403,
        code: CODE,
      });
    }
    // From an address that is not the proxy, the forwarded headers are not believed.
    expect((await clear({ ...forwarded, origin: 'https://deni.example' }, '192.0.2.9')).statusCode).toBe(403);
  });
});

describe('cross-site writes in a real browser (Chromium)', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let base: string;
  let foreign: string;
  let foreignSite: Server;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const executablePath = ensureChromium();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // Another site, served here too (a page the browser did not load from a loopback address may
    // not reach one at all, which would prove nothing): localhost is not 127.0.0.1 to a browser.
    const foreignPort = await freePort();
    foreign = `http://localhost:${foreignPort}`;
    foreignSite = createServer((_request, response) => {
      response.setHeader('content-type', 'text/html; charset=utf-8');
      response.end(
        `<!doctype html><form method="POST" action="${base}/api/ussd/sessions/clear"><button id="go">Win a prize</button></form>`,
      );
    });
    await new Promise<void>((resolve) => foreignSite.listen(foreignPort, '127.0.0.1', resolve));
    // No ADMIN_API_KEY (allowed outside production): the admin routes are open, as in development.
    ({ app } = await startTestApp({ APP_ROLE: 'api', MPESA_CALLBACK_BASE_URL: base }));
    api = new ApiClient(app);
    await app.listen(port, '127.0.0.1');
    browser = await chromium.launch({
      executablePath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage();
  }, 15 * 60_000);
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await new Promise((resolve) => foreignSite?.close(resolve));
  });

  const openSession = async () => {
    const phone = uniquePhone();
    const sessionId = `xb-${phone}`;
    expect((await atPost(app, { sessionId, phoneNumber: phone, text: '' })).body).toMatch(/^CON /);
    return sessionId;
  };
  const listed = async (sessionId: string) =>
    (await api.call<{ sessions: { sessionId: string }[] }>('GET', '/api/ussd/sessions')).body.sessions.some(
      (s) => s.sessionId === sessionId,
    );

  /** A page on another site, with a form that posts to Deni's clear-all-sessions route. */
  const visitForeignPage = () => page.goto(`${foreign}/prize`);

  it('a page on another site cannot make the browser submit a form to Deni', async () => {
    const sessionId = await openSession();
    await visitForeignPage();
    const [submitted] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${base}/api/ussd/sessions/clear`),
      page.click('#go'),
    ]);
    expect(submitted.status()).toBe(403);
    expect(await listed(sessionId)).toBe(true);
  });

  it('a page on another site cannot make the browser fetch a write from Deni', async () => {
    const sessionId = await openSession();
    // A script's "simple" request (no preflight) is sent by the browser; it must change nothing.
    // (Its answer never reaches the script either way: helmet's Cross-Origin-Resource-Policy.)
    await visitForeignPage();
    const outcome = await page.evaluate(async (url) => {
      try {
        await fetch(url, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{}' });
        return 'answered';
      } catch {
        return 'blocked after the answer';
      }
    }, `${base}/api/ussd/sessions/clear`);
    expect(outcome).toBe('blocked after the answer');
    expect(await listed(sessionId)).toBe(true);
  });

  it("Deni's own pages (Swagger UI, bull-board, the simulator) still write from the browser", async () => {
    for (const from of ['/docs', '/admin/queues', '/simulator']) {
      const sessionId = await openSession();
      await page.goto(`${base}${from}`);
      const status = await page.evaluate(
        async () => (await fetch('/api/ussd/sessions/clear', { method: 'POST' })).status,
      );
      expect({ from, status }).toEqual({ from, status: 200 });
      expect({ from, listed: await listed(sessionId) }).toEqual({ from, listed: false });
    }
  });
});
