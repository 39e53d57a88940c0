import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DarajaContext } from './context.js';
import { alnum, darajaError } from './format.js';
import { safeEqual } from './validation.js';

/** OAuth: tokens for the consumer key and secret, and the bearer check of every other API route. */
export function registerOAuth(app: FastifyInstance, ctx: DarajaContext): void {
  const { settings, state } = ctx;
  app.get('/oauth/v1/generate', async (request, reply) => {
    const query = request.query as { grant_type?: string };
    if (query.grant_type !== 'client_credentials')
      return reply.status(400).send(darajaError('400.008.02', 'Invalid grant type passed'));
    const header = request.headers.authorization ?? '';
    if (!header.startsWith('Basic '))
      return reply.status(400).send(darajaError('400.008.01', 'Invalid Authentication passed'));
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (
      colon < 0 ||
      !safeEqual(decoded.slice(0, colon), settings.consumerKey) ||
      !safeEqual(decoded.slice(colon + 1), settings.consumerSecret)
    ) {
      return reply.status(400).send(darajaError('400.008.01', 'Invalid Authentication passed'));
    }
    // A new token replaces the previous one, which stops working at once (as on Daraja).
    state.token = { value: alnum(28, true), expiresAt: Date.now() + settings.tokenTtlSeconds * 1_000 };
    return reply.send({ access_token: state.token.value, expires_in: settings.tokenTtlSeconds });
  });
}

/** Daraja's bearer check; answers 401 and returns false when the token is not the current one. */
export function authorized(ctx: DarajaContext, request: FastifyRequest, reply: FastifyReply): boolean {
  const { token } = ctx.state;
  const header = request.headers.authorization ?? '';
  const given = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
  if (token && given && safeEqual(given, token.value) && Date.now() < token.expiresAt) return true;
  void reply.status(401).send(darajaError('404.001.03', 'Invalid Access Token'));
  return false;
}
