import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { startTestApp, testConfig } from './support/test-app.js';
import { eventually } from './support/eventually.js';

describe('readiness follows PostgreSQL and Redis', () => {
  let app: NestFastifyApplication;
  let pgProxy: TcpProxy;
  let redisProxy: TcpProxy;

  beforeAll(async () => {
    const base = testConfig();
    const pg = new URL(base.database.url);
    const redis = new URL(base.redis.url);
    pgProxy = await startTcpProxy(pg.hostname, Number(pg.port || 5432));
    redisProxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
    ({ app } = await startTestApp({
      DATABASE_URL: pgProxy.url(base.database.url),
      REDIS_URL: redisProxy.url(base.redis.url),
      APP_ROLE: 'api',
    }));
  });

  afterAll(async () => {
    pgProxy.restore();
    redisProxy.restore();
    await app.close();
    await pgProxy.close();
    await redisProxy.close();
  });

  const ready = () => app.inject({ method: 'GET', url: '/health/ready' });

  it('is ready while both answer', async () => {
    expect((await ready()).statusCode).toBe(200);
  });

  it('answers 503 naming PostgreSQL while it is cut off, and recovers', async () => {
    pgProxy.cut();
    const res = await ready();
    expect(res.statusCode).toBe(503);
    expect(res.json<{ details: unknown }>().details).toMatchObject({
      postgres: { status: 'down' },
      redis: { status: 'up' },
    });
    // Liveness is about the process, not its dependencies.
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    pgProxy.restore();
    await eventually(
      async () => (await ready()).statusCode,
      (status) => status === 200,
    );
  });

  it('answers 503 naming Redis while it is cut off, and recovers', async () => {
    redisProxy.cut();
    // A probe that hung would never answer: the test's own timeout, not a clock bound, catches it.
    const res = await ready();
    expect(res.statusCode).toBe(503);
    expect(res.json<{ details: unknown }>().details).toMatchObject({
      redis: { status: 'down' },
      postgres: { status: 'up' },
    });
    redisProxy.restore();
    await eventually(
      async () => (await ready()).statusCode,
      (status) => status === 200,
    );
  });
});
