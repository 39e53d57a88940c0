import { BullModule } from '@nestjs/bullmq';
import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import { createRedisConnection, queuePrefix, type RedisClient } from '../redis/redis-connection.factory.js';
import { JobsService } from './jobs.service.js';
import { ALL_QUEUES } from './queue-names.js';

const BULLMQ_CONNECTION = Symbol('BULLMQ_CONNECTION');

@Injectable()
class BullConnectionCloser implements OnApplicationShutdown {
  constructor(@Inject(BULLMQ_CONNECTION) private readonly connection: RedisClient) {}
  async onApplicationShutdown(): Promise<void> {
    // Queues and workers close first (their own shutdown hooks); the shared connection last.
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}

/**
 * One shared BullMQ connection (Cluster needs an instance, not options). It is imported below
 * BullModule, so Nest shuts it down after the queues and workers that use it.
 */
@Module({
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
