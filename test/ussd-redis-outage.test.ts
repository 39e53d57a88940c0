import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';
import { eventually } from './support/eventually.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { startTestApp, testConfig, uniquePhone } from './support/test-app.js';
import { BOTH_LANGUAGES } from './support/ussd-clients.js';

describe('USSD while Redis is unavailable', () => {
  let app: NestFastifyApplication;
  let proxy: TcpProxy;

  beforeAll(async () => {
    const base = testConfig();
    const redis = new URL(base.redis.url);
    proxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
    ({ app } = await startTestApp({ APP_ROLE: 'api', REDIS_URL: proxy.url(base.redis.url) }));
  });
  afterAll(async () => {
    proxy.restore();
    await app.close();
    await proxy.close();
  });

  const dial = async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/ussd/handler',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        sessionId: `r-${randomUUID()}`,
        serviceCode: '*383#',
        phoneNumber: `+${uniquePhone()}`,
        text: '',
      }).toString(),
    });
    return { status: res.statusCode, body: res.body };
  };

  it('answers a valid END quickly, keeps running, and recovers when Redis returns', async () => {
    expect((await dial()).body).toMatch(/^CON M-PESA LOANS/);
    proxy.cut();
    const during = await dial();
    expect(during.status).toBe(200);
    // Without Redis nobody's language can be known: in both.
    expect(during.body).toBe(`END ${BOTH_LANGUAGES.unavailable}`);
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    proxy.restore();
    await eventually(
      async () => (await dial()).body,
      (body) => body.startsWith('CON M-PESA LOANS'),
      15_000,
    );
  });

  it('answers a REST call that needs Redis with 503 SERVICE.REDIS_UNAVAILABLE, as for the database', async () => {
    // A login counts against the caller's address and the PIN's lockout, both in Redis.
    const login = () =>
      app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { phoneNumber: uniquePhone(), pin: '4821' },
      });
    expect((await login()).statusCode).toBeLessThan(500);
    proxy.cut();
    try {
      const res = await login();
      expect({ status: res.statusCode, body: res.json<{ code: string }>() }).toMatchObject({
        status: 503,
        body: { code: 'SERVICE.REDIS_UNAVAILABLE' },
      });
    } finally {
      proxy.restore();
    }
  });
});
