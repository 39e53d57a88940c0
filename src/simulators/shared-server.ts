import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { refuseCrossSiteWrites } from '../common/cross-site.js';

/**
 * A server for simulators, not listening yet. Their control routes change state (scripted
 * outcomes, pending top-ups, C2B payments) with no key, trusting that only this machine reaches
 * them; a page on another site could still make a browser here send them, so cross-site writes
 * are refused as on Deni's own server (src/common/cross-site.ts).
 */
export function simulatorsServer(options: { bodyLimit?: number } = {}): FastifyInstance {
  const server = Fastify({ logger: false, forceCloseConnections: true, ...options });
  refuseCrossSiteWrites(server);
  return server;
}

/**
 * The server a simulator answers on: its own (listening on host:port) or, given `server`, a scope
 * of a shared one that its owner starts (the simulators process serves Daraja and Africa's
 * Talking on one port). Hooks, error handler and body parsers stay inside the scope.
 */
export async function simulatorScope(
  server: FastifyInstance | undefined,
  ownOptions: { bodyLimit?: number },
): Promise<{ root: FastifyInstance; scope: FastifyInstance; owned: boolean }> {
  const root = server ?? simulatorsServer(ownOptions);
  let scope: FastifyInstance | undefined;
  await root.register((instance, _options, done) => {
    scope = instance;
    done();
  });
  return { root, scope: scope!, owned: server === undefined };
}

/** `http://127.0.0.1:41234` for a listening server. */
export function serverUrl(server: FastifyInstance): string {
  const address = server.server.address() as AddressInfo | null;
  if (!address) throw new Error('the simulator server is not listening yet');
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
}
