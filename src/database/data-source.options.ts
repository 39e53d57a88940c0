import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/app-config';

/**
 * The one description of the database, shared by the application (TypeOrmModule) and by the
 * TypeORM CLI (`ormconfig.ts`). Schema changes go through migrations only: never `synchronize`.
 */
export function dataSourceOptions(config: Pick<AppConfig, 'database'>): DataSourceOptions {
  const db = config.database;
  return {
    type: 'postgres',
    url: db.url,
    synchronize: false,
    // gen_random_uuid() is built into PostgreSQL 13+; no uuid-ossp extension needed.
    uuidExtension: 'pgcrypto',
    migrationsRun: false, // run explicitly at start-up (see DatabaseModule) so it can be switched off
    migrationsTableName: 'migrations',
    // Globs work from sources (ts-node, Jest) and from the build (dist) alike.
    entities: [join(__dirname, '..', '**', '*.entity.{ts,js}')],
    migrations: [join(__dirname, 'migrations', '*.{ts,js}')],
    extra: {
      max: db.poolSize,
      connectionTimeoutMillis: db.connectTimeoutMs,
      statement_timeout: db.statementTimeoutMs,
      application_name: 'deni',
    },
  };
}
