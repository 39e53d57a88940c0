import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { DrainingService } from './draining.service.js';
import { HealthController } from './health.controller.js';
import { PostgresHealthIndicator } from './postgres.health.js';
import { RedisHealthIndicator } from './redis.health.js';

@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'json', gracefulShutdownTimeoutMs: 0 })],
  controllers: [HealthController],
  providers: [PostgresHealthIndicator, RedisHealthIndicator, DrainingService],
  exports: [DrainingService],
})
export class HealthModule {}
