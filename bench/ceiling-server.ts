/**
 * The "ceiling" for `npm run bench`: the least a USSD webhook can do per request on this machine.
 * Bare Fastify, an Africa's Talking form-urlencoded request in, one Redis GET and one SET (the
 * session) per request, a text/plain `CON …` reply out. No Nest, no database, no journey engine.
 *
 * Env: PORT, REDIS_URL, REDIS_KEY_PREFIX. Prints "ready" on stdout once listening.
 */
import { parse } from 'node:querystring';
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const port = Number(process.env.PORT ?? 5799);
const prefix = process.env.REDIS_KEY_PREFIX ?? 'deni-bench-ceiling';
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { keyPrefix: `${prefix}:` });

const app = Fastify({ logger: false });
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
  done(null, parse(body as string));
});

app.post('/api/ussd/handler', async (request, reply) => {
  const body = request.body as Record<string, string | undefined>;
  const sessionId = body.sessionId;
  if (typeof sessionId !== 'string' || typeof body.phoneNumber !== 'string')
    return reply.status(400).send('bad request');
  const key = `ceiling:session:${sessionId}`;
  const raw = await redis.get(key);
  const session = raw ? (JSON.parse(raw) as { step: number; text: string }) : { step: 0, text: '' };
  session.step += 1;
  session.text = body.text ?? '';
  await redis.set(key, JSON.stringify(session), 'PX', 180_000);
  return reply
    .status(200)
    .header('content-type', 'text/plain; charset=utf-8')
    .send(`CON M-PESA LOANS\nstep ${session.step}`);
});

await app.listen({ port, host: '127.0.0.1' });
process.stdout.write('ready\n');
const stop = () => {
  void app
    .close()
    .then(() => redis.quit())
    .finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
