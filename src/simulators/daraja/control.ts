import type { FastifyInstance } from 'fastify';
import { c2b } from './c2b.js';
import type { DarajaContext } from './context.js';
import { SIMULATOR_OUTCOMES, STK_RESOLUTIONS, type SimulatorOutcome, type StkResolution } from './outcomes.js';
import { pendingStkPushes, resolveStkPush } from './stk.js';
import { asObject, MSISDN, scalar, wholeAmount } from './validation.js';

/**
 * The control routes the phone page and tests drive the simulator with (no auth: the server
 * listens on 127.0.0.1, and cross-site writes are refused): scripted outcomes, pending STK pushes,
 * C2B payments, the certificate and the log.
 */
export function registerControlRoutes(app: FastifyInstance, ctx: DarajaContext): void {
  const { state } = ctx;

  app.post('/simulator/outcomes', async (request, reply) => {
    const body = asObject(request.body);
    const phoneNumber = scalar(body.phoneNumber);
    if (!MSISDN.test(phoneNumber)) return reply.status(400).send({ error: 'phoneNumber must look like 254712345678' });
    if (!SIMULATOR_OUTCOMES.includes(body.outcome as SimulatorOutcome)) {
      return reply.status(400).send({ error: `outcome must be one of ${SIMULATOR_OUTCOMES.join(', ')}` });
    }
    state.outcomes.set(phoneNumber, body.outcome as SimulatorOutcome);
    return reply.send({ phoneNumber, outcome: body.outcome });
  });

  app.get('/simulator/stk/pending', async (request, reply) => {
    const { phoneNumber } = request.query as { phoneNumber?: string };
    return reply.send(pendingStkPushes(ctx, phoneNumber || undefined));
  });

  app.post('/simulator/stk/:checkoutRequestId/outcome', async (request, reply) => {
    const { checkoutRequestId } = request.params as { checkoutRequestId: string };
    const { outcome } = asObject(request.body);
    if (!STK_RESOLUTIONS.includes(outcome as StkResolution)) {
      return reply.status(400).send({ error: `outcome must be one of ${STK_RESOLUTIONS.join(', ')}` });
    }
    try {
      resolveStkPush(ctx, checkoutRequestId, outcome as StkResolution);
    } catch (e) {
      return reply.status(state.pushes.has(checkoutRequestId) ? 409 : 404).send({ error: (e as Error).message });
    }
    return reply.send({ checkoutRequestId, outcome });
  });

  app.post('/simulator/c2b', async (request, reply) => {
    const body = asObject(request.body);
    const amount = wholeAmount(body.amount);
    if (typeof body.billRefNumber !== 'string' || amount === null) {
      return reply.status(400).send({ error: 'billRefNumber (string) and amount (whole shillings) are required' });
    }
    if (body.msisdn !== undefined && !MSISDN.test(scalar(body.msisdn)))
      return reply.status(400).send({ error: 'msisdn must look like 254712345678' });
    try {
      const result = await c2b(ctx, {
        billRefNumber: body.billRefNumber,
        amount,
        msisdn: body.msisdn === undefined ? undefined : scalar(body.msisdn),
        shortCode: body.shortCode === undefined ? undefined : scalar(body.shortCode),
      });
      return reply.send(result);
    } catch (e) {
      return reply.status(409).send({ error: (e as Error).message });
    }
  });

  app.get('/simulator/certificate', async (_request, reply) =>
    reply.type('application/x-pem-file').send(ctx.certificatePem),
  );

  app.get('/simulator/log', async (_request, reply) =>
    reply.send({
      outcomes: Object.fromEntries(state.outcomes),
      requests: ctx.requests.map(({ at, method, path, body }) => ({ at, method, path, body: redactRequestBody(body) })),
      callbacks: ctx.callbacks,
    }),
  );
}

function redactRequestBody(body: unknown): unknown {
  if (typeof body !== 'object' || body === null) return body;
  const copy: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const key of ['Password', 'SecurityCredential']) if (key in copy) copy[key] = '[redacted]';
  return copy;
}
