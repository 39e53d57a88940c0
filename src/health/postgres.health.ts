import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DatabaseAvailability } from '../database/database-availability.js';

/**
 * PostgreSQL for readiness: down while the breaker is open (not connected yet, or a known outage),
 * else a SELECT 1 through the pool. terminus's own TypeORM check throws on a DataSource that was
 * never initialized instead of reporting it down.
 */
@Injectable()
export class PostgresHealthIndicator {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly availability: DatabaseAvailability,
    private readonly health: HealthIndicatorService,
  ) {}

  async isHealthy(key: string, timeoutMs: number) {
    const indicator = this.health.check(key);
    if (this.availability.isOpen()) return indicator.down({ message: 'PostgreSQL is unavailable' });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.dataSource.query('SELECT 1'),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      return indicator.up();
    } catch (e) {
      this.availability.recordFailure(e);
      return indicator.down({ message: (e as Error).message });
    } finally {
      clearTimeout(timer);
    }
  }
}
