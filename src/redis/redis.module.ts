import { Global, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { InjectRedis, REDIS } from './redis.tokens.js';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import { createRedisConnection, type RedisClient } from './redis-connection.factory.js';
import { RateLimiter } from './rate-limiter.js';

export { InjectRedis, REDIS } from './redis.tokens.js';

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
    RateLimiter,
  ],
  exports: [REDIS, RateLimiter],
})
export class RedisModule {}
