import { BullModule, WorkerHost } from '@nestjs/bullmq';
import { DiscoveryModule, DiscoveryService } from '@nestjs/core';
import type { Worker } from 'bullmq';
import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import { createRedisConnection, queuePrefix, type RedisClient } from '../redis/redis-connection.factory.js';
import { JobsService } from './jobs.service.js';
import { ALL_QUEUES } from './queue-names.js';

const BULLMQ_CONNECTION = Symbol('BULLMQ_CONNECTION');

@Injectable()
class BullConnectionCloser implements OnApplicationShutdown {
  constructor(
    @Inject(BULLMQ_CONNECTION) private readonly connection: RedisClient,
    private readonly discovery: DiscoveryService,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    // Nest does not order shutdown hooks across modules, so finish the workers here first:
    // close() waits for the jobs in hand, which still need the shared connection to complete.
    const hosts = this.discovery
      .getProviders()
      .map((wrapper) => wrapper.instance as unknown)
      .filter((instance): instance is WorkerHost => instance instanceof WorkerHost);
    // `worker` throws before the worker is made; the private field is undefined instead.
    const workers = hosts
      .map((host) => (host as unknown as { _worker?: Worker })._worker)
      .filter((worker): worker is Worker => worker !== undefined);
    await Promise.all(workers.map((worker) => worker.close()));
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}

/**
 * One shared BullMQ connection (Cluster needs an instance, not options). It is imported below
 * BullModule, so Nest shuts it down after the queues and workers that use it.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: BULLMQ_CONNECTION,
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) =>
        createRedisConnection(config.get('redis', { infer: true }), 'bullmq', 'bullmq'),
    },
    BullConnectionCloser,
  ],
  exports: [BULLMQ_CONNECTION],
})
class BullConnectionModule {}

@Global()
@Module({
  imports: [
    BullModule.forRootAsync({
      imports: [BullConnectionModule],
      inject: [ConfigService, BULLMQ_CONNECTION],
      useFactory: (config: ConfigService<AppConfig, true>, connection: RedisClient) => {
        const redis = config.get('redis', { infer: true });
        return {
          connection,
          prefix: queuePrefix(redis),
          defaultJobOptions: {
            removeOnComplete: { age: 24 * 3600, count: 10_000 },
            removeOnFail: { age: 7 * 24 * 3600 },
          },
        };
      },
    }),
    BullModule.registerQueue(...ALL_QUEUES.map((name) => ({ name }))),
  ],
  providers: [JobsService],
  exports: [BullModule, JobsService],
})
export class QueuesModule {}
