import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import { createRedisConnection, type RedisClient } from './redis-connection.factory.js';

export const REDIS = Symbol('REDIS');
/** Inject Deni's Redis client (keys prefixed with `<REDIS_KEY_PREFIX>:`). */
export const InjectRedis = () => Inject(REDIS);

@Injectable()
class RedisCloser implements OnApplicationShutdown {
  constructor(@InjectRedis() private readonly redis: RedisClient) {}
  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) =>
        createRedisConnection(config.get('redis', { infer: true }), 'app'),
    },
    RedisCloser,
  ],
  exports: [REDIS],
})
export class RedisModule {}
