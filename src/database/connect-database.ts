import type { LoggerService } from '@nestjs/common';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { createDatabaseIfMissing } from './create-database.js';

// Any constant works; it only has to be the same for every Deni process.
const MIGRATION_LOCK = 7_356_204_117;

/**
 * Applies pending migrations, one process at a time (two instances may start together). The lock
 * is held on a connection of its own, outside the pool, so even a pool of one can migrate.
 */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const options = dataSource.options as { url: string; extra?: { connectionTimeoutMillis?: number } };
  // The pool's connect timeout, so an unreachable server fails the attempt instead of hanging it.
  const lock = new Client({
    connectionString: options.url,
    connectionTimeoutMillis: options.extra?.connectionTimeoutMillis,
  });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await lock.end();
  }
}

/**
 * One attempt at connecting the application's DataSource: create the database when asked to,
 * initialize the pool, apply pending migrations. A failed attempt leaves nothing open, so the
 * caller (DatabaseAvailability) can simply try again later.
 */
export async function connectDatabase(
  dataSource: DataSource,
  db: AppConfig['database'],
  logger: LoggerService,
): Promise<void> {
  if (db.createIfMissing && (await createDatabaseIfMissing(db.url, db.connectTimeoutMs))) {
    logger.log('created the database');
  }
  try {
    await dataSource.initialize();
  } catch (e) {
    // initialize() opens its pool before its first queries; when one of those fails the pool is
    // left behind (isInitialized is still false, so destroy() would refuse).
    await dataSource.driver.disconnect().catch(() => undefined);
    throw e;
  }
  try {
    if (db.migrationsRun) {
      const applied = await runMigrations(dataSource);
      if (applied.length) logger.log(`applied migrations: ${applied.join(', ')}`);
    }
  } catch (e) {
    await dataSource.destroy().catch(() => undefined);
    throw e;
  }
}
