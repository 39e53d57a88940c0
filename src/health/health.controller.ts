import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { DrainingService } from './draining.service.js';
import { PostgresHealthIndicator } from './postgres.health.js';
import { RedisHealthIndicator } from './redis.health.js';

const CHECK_TIMEOUT_MS = 1500;

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly postgres: PostgresHealthIndicator,
    private readonly redis: RedisHealthIndicator,
    private readonly draining: DrainingService,
  ) {}

  @Get('live')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process is up and serving' })
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({
    summary:
      'Readiness: PostgreSQL and Redis answer and the process is not shutting down (503 when either does not, or once it is)',
  })
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
    const since = this.draining.since;
    if (since) {
      // Expected, and asked every few seconds by every balancer: answered in terminus's report
      // shape without its error log line, and without asking PostgreSQL and Redis.
      void reply.status(503);
      const shutdown = { status: 'down', message: `shutting down since ${since.toISOString()}` };
      return { status: 'error', info: {}, error: { shutdown }, details: { shutdown } };
    }
    try {
      return await this.health.check([
        () => this.postgres.isHealthy('postgres', CHECK_TIMEOUT_MS),
        () => this.redis.isHealthy('redis', CHECK_TIMEOUT_MS),
      ]);
    } catch (e) {
      // Probes and people want terminus's report (which dependency is down), not an error envelope.
      if (e instanceof ServiceUnavailableException) {
        void reply.status(503);
        return e.getResponse();
      }
      throw e;
    }
  }
}
