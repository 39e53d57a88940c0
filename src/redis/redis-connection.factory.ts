import { Logger } from '@nestjs/common';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/app-config.js';

export type RedisClient = Redis | Cluster;

export type RedisPurpose =
  /** Deni's own commands: keys get `<prefix>:` automatically. */
  | 'app'
  /** BullMQ queues and workers: no key prefix (BullMQ uses its own, a hash tag) and blocking-safe. */
  | 'bullmq';

/** BullMQ's prefix: a hash tag, so every key of every queue lands in one Redis Cluster slot. */
export function queuePrefix(config: RedisConfig): string {
  return `{${config.keyPrefix}}`;
}

/**
 * The one way Deni connects to Redis. Standalone, Sentinel and Cluster are chosen by
 * configuration alone (REDIS_MODE); callers never see the difference.
 */
export function createRedisConnection(config: RedisConfig, purpose: RedisPurpose, name = purpose): RedisClient {
  const client = connect(config, purpose, name);
  // Connection errors are expected during an outage; ioredis reconnects by itself. Log them
  // (throttled) instead of letting ioredis print "Unhandled error event" to the console.
  const logger = new Logger(`Redis:${name}`);
  let last = 0;
  client.on('error', (err: Error) => {
    if (Date.now() - last > 5_000) {
      last = Date.now();
      logger.warn(`${err.message} (reconnecting)`);
    }
  });
  return client;
}

function connect(config: RedisConfig, purpose: RedisPurpose, name: string): RedisClient {
  const url = new URL(config.url);
  const common: RedisOptions = {
    connectionName: `deni:${name}`,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    tls: url.protocol === 'rediss:' ? {} : undefined,
    // BullMQ requires null (its blocking commands must not be cut short); app commands fail fast
    // so that a Redis outage shows up as an error, not as a request that hangs.
    maxRetriesPerRequest: purpose === 'bullmq' ? null : 2,
    enableOfflineQueue: true,
    keyPrefix: purpose === 'app' ? `${config.keyPrefix}:` : undefined,
    // Deni's own commands (sessions, locks, limits) answer within this or fail: a USSD step must
    // not hang on a Redis that went away. BullMQ's blocking commands are exempt.
    commandTimeout: purpose === 'app' ? config.commandTimeoutMs : undefined,
    lazyConnect: false,
    // Commands issued in the same tick (the many concurrent USSD steps under load) leave in one
    // write instead of one write each. Same commands, same order per connection: only fewer
    // syscalls. BullMQ manages its own connections' pipelining.
    enableAutoPipelining: purpose === 'app',
  };

  if (config.mode === 'cluster') {
    return new Cluster(config.clusterNodes ?? [], {
      keyPrefix: common.keyPrefix,
      redisOptions: { ...common, keyPrefix: undefined },
      // BullMQ on Cluster: ready check off is recommended, and slots refresh on MOVED.
      enableReadyCheck: purpose !== 'bullmq',
      maxRedirections: 16,
    });
  }
  if (config.mode === 'sentinel') {
    return new Redis({
      ...common,
      sentinels: config.sentinels,
      name: config.sentinelName,
      sentinelUsername: common.username,
      sentinelPassword: common.password,
    });
  }
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  return new Redis({ ...common, host: url.hostname, port: Number(url.port || 6379), db });
}
