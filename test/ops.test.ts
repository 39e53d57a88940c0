import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { startTestApp } from './support/test-app.js';

const ADMIN_KEY = 'test-admin-key-0123456789';

describe('operations endpoints', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    ({ app } = await startTestApp({ ADMIN_API_KEY: ADMIN_KEY }));
  });
  afterAll(() => app.close());

  it('answers readiness with PostgreSQL and Redis up', async () => {
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', details: { postgres: { status: 'up' }, redis: { status: 'up' } } });
  });

  it('serves Swagger UI and the OpenAPI document', async () => {
    const ui = await app.inject({ method: 'GET', url: '/docs' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('swagger');
    const json = await app.inject({ method: 'GET', url: '/docs-json' });
    expect(json.statusCode).toBe(200);
    expect(json.json().paths['/health/ready']).toBeDefined();
  });

  it('exposes Prometheus metrics with the HTTP histogram and queue depths', async () => {
    await app.inject({ method: 'GET', url: '/health/live' });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toMatch(/deni_http_request_duration_seconds_bucket\{.*route="\/health\/live"/);
    expect(res.body).toMatch(/deni_queue_jobs\{queue="notifications",state="waiting"\} \d+/);
  });

  it('guards the queue dashboard with the admin key', async () => {
    const without = await app.inject({ method: 'GET', url: '/admin/queues' });
    expect(without.statusCode).toBe(401);
    expect(without.json().code).toBe('AUTH.ADMIN_KEY_REQUIRED');
    const wrong = await app.inject({ method: 'GET', url: '/admin/queues', headers: { 'x-api-key': 'nope' } });
    expect(wrong.statusCode).toBe(401);
    const right = await app.inject({ method: 'GET', url: '/admin/queues', headers: { 'x-api-key': ADMIN_KEY } });
    expect(right.statusCode).toBe(200);
    expect(right.body).toContain('Deni queues');
  });

  it('answers unknown routes with a coded 404 and a request id', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'trace-123' } });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 'REQUEST.NOT_FOUND', requestId: 'trace-123' });
    expect(res.headers['x-request-id']).toBe('trace-123');
    expect(res.body).not.toMatch(/at .*\.(js|ts):\d+/);
  });

  it('refuses bodies over the limit', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/health/live',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ blob: 'x'.repeat(200 * 1024) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().code).toBe('REQUEST.TOO_LARGE');
  });

  it('sets security headers', async () => {
    const res = await app.inject({ method: 'GET', url: '/health/live' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });
});
