import { networkInterfaces } from 'node:os';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ConfigValidationError, configFromEnv, type AppConfig } from '../src/config/app-config.js';
import { listeningLine } from '../src/http-address.js';
import { ADMIN_KEY } from './support/api-client.js';
import { freePort } from './support/processes.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

/**
 * Issue 14, points 1 and 2: a process others can reach never runs on public development secrets,
 * and with no ADMIN_API_KEY the admin, dashboard and simulator routes answer only callers whose
 * socket is on loopback, whatever X-Forwarded-For says. The findings' attack paths are replayed
 * from this machine's own non-loopback address (a real socket), and through `inject` with a
 * foreign remote address (the same check wherever the machine has no such address).
 */

/** This machine's first non-loopback IPv4 address, if it has one. */
function ownNonLoopbackAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((a) => a?.family === 'IPv4' && !a.internal && !a.address.startsWith('127.'))?.address;
}

const FOREIGN = '192.0.2.10';

/** The findings' attack paths and the other operator routes: each acts on money, codes or queues. */
function attackPaths(phone: string) {
  return [
    {
      method: 'POST' as const,
      url: '/api/admin/deposits',
      body: { phoneNumber: phone, amount: 250_000, reference: `x-${phone}` },
    },
    { method: 'GET' as const, url: `/api/admin/notifications?phoneNumber=${phone}` },
    { method: 'GET' as const, url: '/api/admin/mpesa/payments' },
    { method: 'GET' as const, url: '/api/ussd/sessions' },
    { method: 'POST' as const, url: '/api/ussd/sessions/clear', body: {} },
    { method: 'GET' as const, url: '/admin/queues' },
    { method: 'GET' as const, url: '/admin/queues/api/queues' },
    { method: 'GET' as const, url: `/simulator/api/sms?phoneNumber=${phone}` },
    {
      method: 'POST' as const,
      url: '/simulator/api/mpesa/outcome',
      body: { phoneNumber: phone, outcome: 'cancelled' },
    },
    { method: 'GET' as const, url: `/simulator/api/mpesa/pending?phoneNumber=${phone}` },
  ];
}

interface Answer {
  status: number;
  code?: unknown;
}

type Caller = (
  route: { method: 'GET' | 'POST'; url: string; body?: unknown },
  headers?: Record<string, string>,
) => Promise<Answer>;

function injecting(app: NestFastifyApplication, remoteAddress: string): Caller {
  return async ({ method, url, body }, headers = {}) => {
    const res = await app.inject({ method, url, headers, remoteAddress, ...(body ? { payload: body } : {}) });
    return { status: res.statusCode, code: safeCode(res.body) };
  };
}

function fetching(base: string): Caller {
  return async ({ method, url, body }, headers = {}) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, code: safeCode(await res.text()) };
  };
}

function safeCode(text: string): unknown {
  try {
    return (JSON.parse(text) as { code?: unknown }).code;
  } catch {
    return undefined;
  }
}

const external = ownNonLoopbackAddress();

describe('exposure (issue 14: loopback unless told otherwise, live providers mean production rules)', () => {
  describe('with no ADMIN_API_KEY', () => {
    let app: NestFastifyApplication;
    let port: number;
    const phone = uniquePhone();

    beforeAll(async () => {
      // TRUST_PROXY=true makes request.ip follow X-Forwarded-For: the rule must not.
      ({ app } = await startTestApp({ TRUST_PROXY: 'true' }));
      port = await freePort();
      // The configuration refuses HOST=0.0.0.0 with no key (below); the guard must hold on its own
      // even so, so this app is bound to every interface directly.
      await app.listen({ port, host: '0.0.0.0' });
    });
    afterAll(() => app?.close());

    const foreignCallers = (): [string, Caller][] => [
      [`inject from ${FOREIGN}`, injecting(app, FOREIGN)],
      ...(external ? [[`a socket from ${external}`, fetching(`http://${external}:${port}`)] as [string, Caller]] : []),
    ];

    it('refuses every admin, dashboard and simulator control route to a caller off loopback, even claiming X-Forwarded-For: 127.0.0.1', async () => {
      for (const [who, call] of foreignCallers()) {
        for (const route of attackPaths(phone)) {
          for (const headers of [
            {},
            { 'x-forwarded-for': '127.0.0.1' },
            { 'x-forwarded-for': '::1, 127.0.0.1' },
          ] as Record<string, string>[]) {
            expect({ who, route: `${route.method} ${route.url}`, headers, ...(await call(route, headers)) }).toEqual({
              who,
              route: `${route.method} ${route.url}`,
              headers,
              status: 403,
              code: 'AUTH.ADMIN_LOOPBACK_ONLY',
            });
          }
        }
      }
      // Nothing was minted: no deposit SMS (nor any other) was ever written for that number.
      const outbox = await app.inject({ method: 'GET', url: `/api/admin/notifications?phoneNumber=${phone}` });
      expect({ status: outbox.statusCode, rows: outbox.json<unknown[]>() }).toEqual({ status: 200, rows: [] });
    });

    it('answers a caller on loopback, whatever X-Forwarded-For claims', async () => {
      const loopbackCallers: [string, Caller][] = [
        ['inject from 127.0.0.1', injecting(app, '127.0.0.1')],
        ['inject from ::1', injecting(app, '::1')],
        ['a socket from 127.0.0.1', fetching(`http://127.0.0.1:${port}`)],
      ];
      for (const [who, call] of loopbackCallers) {
        for (const route of attackPaths(phone).filter((r) => r.method === 'GET')) {
          for (const headers of [{}, { 'x-forwarded-for': '203.0.113.9' }] as Record<string, string>[]) {
            const answer = await call(route, headers);
            expect({ who, route: route.url, headers, status: answer.status }).toEqual({
              who,
              route: route.url,
              headers,
              status: 200,
            });
          }
        }
      }
    });

    it('leaves the public routes alone off loopback', async () => {
      for (const [who, call] of foreignCallers()) {
        for (const url of ['/health/live', '/simulator/api/config', '/docs-json']) {
          expect({ who, url, status: (await call({ method: 'GET', url })).status }).toEqual({ who, url, status: 200 });
        }
      }
    });
  });

  describe('with ADMIN_API_KEY, listening on every interface', () => {
    let app: NestFastifyApplication;
    let port: number;

    beforeAll(async () => {
      let config: AppConfig;
      ({ app, config } = await startTestApp({
        HOST: '0.0.0.0',
        TRUST_PROXY: 'true',
        ADMIN_API_KEY: ADMIN_KEY,
        JWT_SECRET: 'j'.repeat(40),
        PIN_PEPPER: 'p'.repeat(40),
        USSD_WEBHOOK_SECRET: 'u'.repeat(20),
        MPESA_CALLBACK_SECRET: 'c'.repeat(24),
      }));
      expect(config.http.host).toBe('0.0.0.0');
      port = await freePort();
      await app.listen({ port, host: config.http.host });
      expect(listeningLine(app)).toBe(`http://0.0.0.0:${port} (every interface)`);
    });
    afterAll(() => app?.close());

    it('requires the key from off loopback, and X-Forwarded-For: 127.0.0.1 is no key', async () => {
      const callers: [string, Caller][] = [
        [`inject from ${FOREIGN}`, injecting(app, FOREIGN)],
        ...(external
          ? [[`a socket from ${external}`, fetching(`http://${external}:${port}`)] as [string, Caller]]
          : []),
        // With a key configured, loopback is no exception either.
        ['a socket from 127.0.0.1', fetching(`http://127.0.0.1:${port}`)],
      ];
      const phone = uniquePhone();
      for (const [who, call] of callers) {
        for (const route of attackPaths(phone)) {
          const answer = await call(route, { 'x-forwarded-for': '127.0.0.1' });
          expect({ who, route: `${route.method} ${route.url}`, ...answer }).toEqual({
            who,
            route: `${route.method} ${route.url}`,
            status: 401,
            code: 'AUTH.ADMIN_KEY_REQUIRED',
          });
        }
        const keyed = await call({ method: 'GET', url: '/api/admin/mpesa/payments' }, { 'x-api-key': ADMIN_KEY });
        expect({ who, status: keyed.status }).toEqual({ who, status: 200 });
      }
    });

    it('a bearer token forged with the public development JWT secret is refused', async () => {
      const { createHmac } = await import('node:crypto');
      const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: '00000000-0000-4000-8000-000000000000', iat: now, exp: now + 600 })}`;
      const forged = `${body}.${createHmac('sha256', 'deni-development-jwt-secret-not-for-production').update(body).digest('base64url')}`;
      const res = await app.inject({
        method: 'GET',
        url: '/api/wallet',
        headers: { authorization: `Bearer ${forged}` },
        remoteAddress: FOREIGN,
      });
      expect(res.statusCode).toBe(401);
    });
  });

  it('refuses to configure a development process on every interface with no admin key, naming ADMIN_API_KEY', () => {
    let error: unknown;
    try {
      configFromEnv({ NODE_ENV: 'development', HOST: '0.0.0.0' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).problems).toContain(
      'ADMIN_API_KEY: required when HOST is 0.0.0.0 (not loopback)',
    );
  });

  it('states in the boot line the address actually bound', async () => {
    const { app } = await startTestApp();
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.getHttpServer().address() as { port: number };
      expect(listeningLine(app)).toBe(`http://127.0.0.1:${port}`);
    } finally {
      await app.close();
    }
    const { app: v6, config } = await startTestApp({ HOST: '::1' });
    try {
      await v6.listen({ port: 0, host: config.http.host });
      const { port } = v6.getHttpServer().address() as { port: number };
      expect(listeningLine(v6)).toBe(`http://[::1]:${port}`);
    } finally {
      await v6.close();
    }
  });
});
