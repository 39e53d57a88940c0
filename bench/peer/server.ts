/**
 * The peer as a process of its own (see peer-app.ts), started by `npm run bench`.
 *
 * Env: PORT (0, the default: any free port), REDIS_URL, REDIS_KEY_PREFIX (its keys go under
 * `<prefix>:peer:`), USSD_WEBHOOK_SECRET (optional). Prints "ready <port>" on stdout once listening.
 */
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { createPeerApp } from './peer-app.js';

const prefix = process.env.REDIS_KEY_PREFIX ?? 'deni-bench-peer';
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { keyPrefix: `${prefix}:peer:` });
const app = createPeerApp({ redis, secret: process.env.USSD_WEBHOOK_SECRET || undefined });

const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`ready ${(server.address() as AddressInfo).port}\n`);
});
const stop = () => {
  server.close(() => {
    void redis.quit().finally(() => process.exit(0));
  });
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
