import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DomainError } from './domain-error.js';
import { DomainExceptionFilter } from './domain-exception.filter.js';

/** Methods a page on another site must not be able to send here through a visitor's browser. */
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export const CROSS_SITE_CODE = 'REQUEST.CROSS_SITE';

/** What a request's headers say about where a browser sent it from. */
export interface RequestOrigin {
  method: string;
  /** The `Sec-Fetch-Site` header: set by every current browser, never by a script. */
  secFetchSite?: string;
  /** The `Origin` header. */
  origin?: string;
  /** The scheme the client used (`request.protocol`: X-Forwarded-Proto from a trusted proxy). */
  protocol: string;
  /** The host and port the client used (`request.host`: X-Forwarded-Host from a trusted proxy). */
  host?: string;
}

/** `scheme://host[:port]` in its canonical form (lower case, no default port), or undefined. */
function canonicalOrigin(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a browser sent this state-changing request from a page that is not Deni's own
 * (cross-site request forgery). Fetch Metadata decides when the browser sent it; browsers that
 * predate it still send `Origin` with every POST, which must then be this service's own origin
 * (`null`, from sandboxed frames and data: URLs, never is). Requests with neither header do not
 * come from a browser's page (USSD gateways, Daraja, the mobile app, curl) and pass: they carry
 * no visitor's credentials a page could borrow.
 */
export function isCrossSite(request: RequestOrigin): boolean {
  if (!UNSAFE_METHODS.has(request.method.toUpperCase())) return false;
  const site = request.secFetchSite?.trim().toLowerCase();
  if (site) return site !== 'same-origin' && site !== 'none';
  if (request.origin === undefined) return false;
  const origin = canonicalOrigin(request.origin.trim());
  if (origin === undefined || !request.host) return true;
  return origin !== canonicalOrigin(`${request.protocol}://${request.host}`);
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * Refuses cross-site writes on every route of the instance: Nest's controllers, bull-board's
 * dashboard and the simulator page alike, and any route registered later. Answered with 403
 * `REQUEST.CROSS_SITE` in the shape of every other error, before any handler or guard runs.
 */
export function refuseCrossSiteWrites(fastify: FastifyInstance): void {
  const errors = new DomainExceptionFilter();
  fastify.addHook('onRequest', async (request, reply) => {
    const seen: RequestOrigin = {
      method: request.method,
      secFetchSite: header(request, 'sec-fetch-site'),
      origin: header(request, 'origin'),
      protocol: request.protocol,
      host: request.host,
    };
    if (!isCrossSite(seen)) return;
    request.log.warn({ origin: seen.origin, secFetchSite: seen.secFetchSite }, 'cross-site write refused');
    const body = errors.toBody(
      new DomainError(
        CROSS_SITE_CODE,
        'forbidden',
        'Requests that change state must come from this service’s own pages',
      ),
    );
    body.requestId = String(request.id);
    await reply.status(body.statusCode).header('content-type', 'application/json; charset=utf-8').send(body);
  });
}
