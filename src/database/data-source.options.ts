import type { DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { MIGRATIONS } from './schema.js';

/**
 * The one description of the database, shared by the application (TypeOrmModule) and by the
 * TypeORM CLI (`ormconfig.ts`). Schema changes go through migrations only: never `synchronize`.
 * The application passes no entities (its modules register theirs); the CLI and tests pass them all.
 */
export function dataSourceOptions(
  config: Pick<AppConfig, 'database'>,
  entities: DataSourceOptions['entities'] = [],
): DataSourceOptions {
  const db = config.database;
  return {
    type: 'postgres',
    url: db.url,
    synchronize: false,
    // gen_random_uuid() is built into PostgreSQL 13+; no uuid-ossp extension needed.
    uuidExtension: 'pgcrypto',
    migrationsRun: false, // run explicitly at start-up (see DatabaseModule) so it can be switched off
    migrationsTableName: 'migrations',
    entities,
    migrations: MIGRATIONS,
    extra: {
      max: db.poolSize,
      connectionTimeoutMillis: db.connectTimeoutMs,
      statement_timeout: db.statementTimeoutMs,
      application_name: 'deni',
    },
  };
}
