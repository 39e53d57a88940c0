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
    expect(res.json()).toMatchObject({
      status: 'ok',
      details: { postgres: { status: 'up' }, redis: { status: 'up' } },
    });
  });

  it('serves Swagger UI and the OpenAPI document', async () => {
    const ui = await app.inject({ method: 'GET', url: '/docs' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('swagger');
    const json = await app.inject({ method: 'GET', url: '/docs-json' });
    expect(json.statusCode).toBe(200);
    expect(json.json<{ paths: Record<string, unknown> }>().paths['/health/ready']).toBeDefined();
  });

  it('documents the mobile sync API with response schemas and examples', async () => {
    interface Schema {
      $ref?: string;
      allOf?: Schema[];
      properties?: Record<string, Schema & { items?: Schema }>;
    }
    interface Response {
      content: { 'application/json': { schema: Schema; example?: unknown } };
    }
    const doc = (await app.inject({ method: 'GET', url: '/docs-json' })).json<{
      paths: Record<string, Record<string, { responses: Record<string, Response> }>>;
      components: { schemas: Record<string, Schema> };
    }>();
    const schemaOf = (ref: string | undefined) => doc.components.schemas[ref!.replace('#/components/schemas/', '')];

    const pull = doc.paths['/api/sync/pull'].get.responses['200'].content['application/json'];
    const pullSchema = schemaOf(pull.schema.$ref);
    expect(Object.keys(pullSchema.properties!).sort()).toEqual(['cursor', 'hasMore', 'loans', 'transfers', 'wallet']);
    expect(Object.keys(schemaOf(pullSchema.properties!.loans.items!.$ref).properties!)).toEqual(
      expect.arrayContaining(['id', 'role', 'status', 'principal', 'outstanding', 'repaymentPerDeposit', 'updatedAt']),
    );
    expect(Object.keys(schemaOf(pullSchema.properties!.transfers.items!.$ref).properties!).sort()).toEqual([
      'amount',
      'createdAt',
      'id',
      'kind',
      'loanId',
    ]);
    expect(pull.example).toMatchObject({
      loans: [expect.objectContaining({ status: 'ACTIVE' })],
      transfers: expect.arrayContaining([expect.objectContaining({ kind: 'loan_repayment' })]) as unknown,
      wallet: { balance: expect.any(Number) as unknown },
      cursor: expect.any(String) as unknown,
      hasMore: false,
    });

    const push = doc.paths['/api/sync/push'].post.responses['200'].content['application/json'];
    const result = schemaOf(schemaOf(push.schema.$ref).properties!.results.items!.$ref);
    // A described reference is wrapped in allOf.
    for (const field of ['loan', 'serverState'])
      expect([field, result.properties![field].allOf?.[0].$ref]).toEqual([
        field,
        pullSchema.properties!.loans.items!.$ref,
      ]);
    const results = (
      push.example as { results: { status: string; code?: string; serverState?: { status: string }; loan?: unknown }[] }
    ).results;
    expect(results.map((r) => r.status)).toEqual(['applied', 'duplicate', 'rejected', 'conflict']);
    expect(results[0].loan).toBeDefined();
    expect(results[1]).toMatchObject({ outcome: 'applied', message: 'Already applied' });
    expect(results[2].code).toBe('WALLET.INSUFFICIENT_FUNDS');
    expect(results[3]).toMatchObject({ code: 'LOAN.NOT_PENDING', serverState: { status: 'CANCELLED' } });
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
    expect(without.json<{ code: string }>().code).toBe('AUTH.ADMIN_KEY_REQUIRED');
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
    expect(res.json<{ code: string }>().code).toBe('REQUEST.TOO_LARGE');
  });

  it('sets security headers', async () => {
    const res = await app.inject({ method: 'GET', url: '/health/live' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });
});
