import { ENTITIES } from '../src/entities.js';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { DataSource, QueryFailedError } from 'typeorm';
import { TokenService } from '../src/auth/token.service.js';
import { DomainError } from '../src/common/domain-error.js';
import { DomainExceptionFilter } from '../src/common/domain-exception.filter.js';
import { dataSourceOptions } from '../src/database/data-source.options.js';
import { isDatabaseUnavailable } from '../src/common/postgres-errors.js';
import { DatabaseAvailability } from '../src/database/database-availability.js';
import { User } from '../src/users/user.entity.js';
import { eventually } from './support/eventually.js';
import { freePort } from './support/processes.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { startTestApp, testConfig, uniquePhone } from './support/test-app.js';

const base = testConfig();
const pg = new URL(base.database.url);
const proxyToPostgres = () => startTcpProxy(pg.hostname, Number(pg.port || 5432));

/** Any route that reads PostgreSQL (admin routes answer inject's loopback caller: no ADMIN_API_KEY). */
const outbox = (app: NestFastifyApplication) =>
  app.inject({ method: 'GET', url: `/api/admin/notifications?phoneNumber=${uniquePhone()}` });
const ready = (app: NestFastifyApplication) => app.inject({ method: 'GET', url: '/health/ready' });

describe('PostgreSQL goes away while the service runs', () => {
  let app: NestFastifyApplication;
  let proxy: TcpProxy;

  beforeAll(async () => {
    proxy = await proxyToPostgres();
    ({ app } = await startTestApp({ APP_ROLE: 'api', DATABASE_URL: proxy.url(base.database.url) }));
  });
  afterAll(async () => {
    proxy.restore();
    await app.close();
    await proxy.close();
  });

  it('opens the breaker, answers 503 at once, and closes it by itself when PostgreSQL returns', async () => {
    const availability = app.get(DatabaseAvailability);
    expect(availability.isOpen()).toBe(false);
    expect((await ready(app)).statusCode).toBe(200);
    expect((await outbox(app)).statusCode).toBe(200);
    let recoveries = 0;
    const unsubscribe = availability.onRecovered(() => (recoveries += 1));
    const { accessToken } = await app.get(TokenService).issue({ userId: randomUUID(), phoneNumber: uniquePhone() });

    proxy.cut();
    await eventually(
      () => availability.isOpen(),
      (open) => open,
      2_500,
    );

    const readiness = await ready(app);
    expect(readiness.statusCode).toBe(503);
    expect(readiness.json<{ details: unknown }>().details).toMatchObject({
      postgres: { status: 'down' },
      redis: { status: 'up' },
    });
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^deni_database_available 0$/m);
    for (const request of [
      () => outbox(app),
      () => app.inject({ method: 'GET', url: '/api/wallet', headers: { authorization: `Bearer ${accessToken}` } }),
    ]) {
      // The breaker is open (above): the answer comes from it, not from a query left to time out.
      const res = await request();
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ statusCode: 503, code: 'SERVICE.DATABASE_UNAVAILABLE' });
    }
    expect(recoveries).toBe(0);

    proxy.restore();
    await eventually(
      () => availability.isOpen(),
      (open) => !open,
      3_500,
    );
    expect(recoveries).toBe(1);
    unsubscribe();
    expect((await ready(app)).statusCode).toBe(200);
    expect((await outbox(app)).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/^deni_database_available 1$/m);
  });
});

describe('starting while PostgreSQL is down', () => {
  let app: NestFastifyApplication | undefined;
  let proxy: TcpProxy;

  beforeAll(async () => {
    proxy = await proxyToPostgres();
  });
  afterAll(async () => {
    proxy.restore();
    await app?.close();
    await proxy.close();
  });

  it('listens at once, is not ready, then connects and serves by itself once PostgreSQL answers', async () => {
    proxy.cut();
    ({ app } = await startTestApp({ APP_ROLE: 'api', DATABASE_URL: proxy.url(base.database.url) }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.getHttpServer().address() as { port: number };
    expect((await fetch(`http://127.0.0.1:${address.port}/health/live`)).status).toBe(200);

    const availability = app.get(DatabaseAvailability);
    let recoveries = 0;
    availability.onRecovered(() => (recoveries += 1));
    expect(availability.isOpen()).toBe(true);
    expect((await ready(app)).statusCode).toBe(503);
    // The DataSource was never initialized: still a clean 503, not a 500.
    const during = await outbox(app);
    expect(during.statusCode).toBe(503);
    expect(during.json<{ code: string }>().code).toBe('SERVICE.DATABASE_UNAVAILABLE');

    proxy.restore();
    await eventually(
      async () => (await ready(app!)).statusCode,
      (status) => status === 200,
    );
    expect(availability.isOpen()).toBe(false);
    expect(recoveries).toBe(1);
    expect((await outbox(app)).statusCode).toBe(200);
  });
});

describe('isDatabaseUnavailable', () => {
  const url = base.database.url;
  const clients: Client[] = [];
  const connected = async () => {
    const client = new Client({ connectionString: url });
    clients.push(client);
    await client.connect();
    return client;
  };
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => {
        throw new Error('expected a failure');
      },
      (err: unknown) => err,
    );

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  });

  it('is true for pg and TypeORM failing to reach a closed port', async () => {
    const closed = new URL(url);
    closed.hostname = '127.0.0.1';
    closed.port = String(await freePort());
    const refused = await failure(new Client({ connectionString: closed.toString() }).connect());
    expect((refused as { code?: string }).code).toBe('ECONNREFUSED');
    expect(isDatabaseUnavailable(refused)).toBe(true);

    const ds = new DataSource(dataSourceOptions(testConfig({ DATABASE_URL: closed.toString() }), ENTITIES));
    expect(isDatabaseUnavailable(await failure(ds.initialize()))).toBe(true);
    expect(ds.isInitialized).toBe(false);
  });

  it('is true for pg and TypeORM timing out on a server that accepts but never answers', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const hung = new URL(url);
      hung.hostname = '127.0.0.1';
      hung.port = String((silent.address() as { port: number }).port);
      const client = new Client({ connectionString: hung.toString(), connectionTimeoutMillis: 300 });
      expect(isDatabaseUnavailable(await failure(client.connect()))).toBe(true);
      const ds = new DataSource(
        dataSourceOptions(testConfig({ DATABASE_URL: hung.toString(), DB_CONNECT_TIMEOUT_MS: '300' }), ENTITIES),
      );
      expect(isDatabaseUnavailable(await failure(ds.initialize()))).toBe(true);
    } finally {
      silent.close();
    }
  });

  it('is true for using a DataSource that never connected', async () => {
    const ds = new DataSource(dataSourceOptions(base, ENTITIES));
    expect(isDatabaseUnavailable(await failure(ds.getRepository(User).findOneBy({ id: randomUUID() })))).toBe(true);
    expect(isDatabaseUnavailable(await failure(ds.query('SELECT 1')))).toBe(true);
  });

  it('is true for a connection the server terminates (57P01) and for the next query on it', async () => {
    const victim = await connected();
    // The server's 57P01 comes first, then pg's own error for the closed socket.
    const errors: unknown[] = [];
    victim.on('error', (e) => errors.push(e));
    const [{ pid }] = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
    await (await connected()).query('SELECT pg_terminate_backend($1)', [pid]);
    await eventually(
      () => errors.length,
      (n) => n > 0,
    );
    expect((errors[0] as { code?: string }).code).toBe('57P01');
    for (const err of errors) expect(isDatabaseUnavailable(err)).toBe(true);
    expect(isDatabaseUnavailable(await failure(victim.query('SELECT 1')))).toBe(true);
  });

  it('is false for ordinary query errors, raw or wrapped by TypeORM, and for domain errors', async () => {
    const client = await connected();
    await client.query('CREATE TEMP TABLE t (k int PRIMARY KEY)');
    await client.query('INSERT INTO t VALUES (1)');
    const duplicate = await failure(client.query('INSERT INTO t VALUES (1)'));
    expect((duplicate as { code?: string }).code).toBe('23505');
    expect(isDatabaseUnavailable(duplicate)).toBe(false);
    expect(isDatabaseUnavailable(new QueryFailedError('INSERT', [], duplicate as Error))).toBe(false);

    const syntax = await failure(client.query('SELEC 1'));
    expect((syntax as { code?: string }).code).toBe('42601');
    expect(isDatabaseUnavailable(syntax)).toBe(false);

    expect(isDatabaseUnavailable(new DomainError('LOAN.NOT_FOUND', 'not_found', 'No such loan'))).toBe(false);
    expect(isDatabaseUnavailable(new Error('boom'))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
  });

  it('maps to 503 SERVICE.DATABASE_UNAVAILABLE in the error filter, and only those errors', () => {
    const filter = new DomainExceptionFilter();
    const lost = new QueryFailedError('SELECT 1', [], new Error('Connection terminated unexpectedly'));
    expect(filter.toBody(lost)).toMatchObject({ statusCode: 503, code: 'SERVICE.DATABASE_UNAVAILABLE' });
    const duplicate = Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
    expect(filter.toBody(new QueryFailedError('INSERT', [], duplicate))).toMatchObject({
      statusCode: 500,
      code: 'INTERNAL',
    });
  });
});
