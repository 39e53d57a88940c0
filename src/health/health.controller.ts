import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
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
  ) {}

  @Get('live')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process is up and serving' })
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: PostgreSQL and Redis answer (503 when either does not)' })
  async ready(@Res({ passthrough: true }) reply: FastifyReply) {
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
