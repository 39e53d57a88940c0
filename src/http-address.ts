import type { AddressInfo } from 'node:net';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/**
 * The address the HTTP server is actually bound to, as a URL for the boot line:
 * `http://127.0.0.1:5000`, `http://[::1]:5000`, or `http://0.0.0.0:5000 (every interface)`.
 */
export function listeningLine(app: NestFastifyApplication): string {
  const bound = (app.getHttpServer() as { address(): AddressInfo | string | null }).address();
  if (bound === null) return 'not listening';
  if (typeof bound === 'string') return bound; // a Unix socket path
  const host = bound.family === 'IPv6' || bound.address.includes(':') ? `[${bound.address}]` : bound.address;
  const everywhere = bound.address === '0.0.0.0' || bound.address === '::';
  return `http://${host}:${bound.port}${everywhere ? ' (every interface)' : ''}`;
}
