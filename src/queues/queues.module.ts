import { BullBoardModule } from '@bull-board/nestjs';
import { FastifyAdapter as BullBoardFastifyAdapter } from '@bull-board/fastify';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { BullModule } from '@nestjs/bullmq';
import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ADMIN_KEY_HEADER, adminKeyMatches } from '../auth/admin-key';
import type { AppConfig } from '../config/app-config';
import { createRedisConnection, queuePrefix, type RedisClient } from '../redis/redis-connection.factory';
import { JobsService } from './jobs.service';
import { ALL_QUEUES } from './queue-names';

const BULLMQ_CONNECTION = Symbol('BULLMQ_CONNECTION');

@Injectable()
class BullConnectionCloser implements OnApplicationShutdown {
  constructor(@Inject(BULLMQ_CONNECTION) private readonly connection: RedisClient) {}
  async onApplicationShutdown(): Promise<void> {
    // Queues and workers close first (their own shutdown hooks); the shared connection last.
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}

function adminMiddleware(config: ConfigService<AppConfig, true>) {
  const key = config.get('security', { infer: true }).adminApiKey;
  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    if (adminKeyMatches(key, req.headers[ADMIN_KEY_HEADER])) return next();
    res.statusCode = 401;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(
      JSON.stringify({
        statusCode: 401,
        code: 'AUTH.ADMIN_KEY_REQUIRED',
        message: `A valid ${ADMIN_KEY_HEADER} header is required`,
      }),
    );
  };
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
    BullBoardModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) => ({
        route: '/admin/queues',
        adapter: BullBoardFastifyAdapter,
        middleware: adminMiddleware(config),
        boardOptions: { uiConfig: { boardTitle: 'Deni queues' } },
      }),
    }),
    BullBoardModule.forFeature(...ALL_QUEUES.map((name) => ({ name, adapter: BullMQAdapter }))),
  ],
  providers: [JobsService],
  exports: [BullModule, JobsService],
})
export class QueuesModule {}
