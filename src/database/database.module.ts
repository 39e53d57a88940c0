import { Global, Logger, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Client } from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { createDatabaseIfMissing } from './create-database.js';
import { dataSourceOptions } from './data-source.options.js';
import { TransactionService } from './transaction.service.js';

// Any constant works; it only has to be the same for every Deni process.
const MIGRATION_LOCK = 7_356_204_117;

/**
 * Applies pending migrations, one process at a time (two instances may start together). The lock
 * is held on a connection of its own, outside the pool, so even a pool of one can migrate.
 */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const lock = new Client({ connectionString: (dataSource.options as { url: string }).url });
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

type DeniDataSourceOptions = DataSourceOptions & { deni: AppConfig['database'] };

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>): DeniDataSourceOptions => {
        const database = config.get('database', { infer: true });
        return { ...dataSourceOptions({ database }), deni: database };
      },
      dataSourceFactory: async (options) => {
        const { deni, ...typeorm } = options as DeniDataSourceOptions;
        const logger = new Logger('Database');
        if (deni.createIfMissing && (await createDatabaseIfMissing(deni.url, deni.connectTimeoutMs))) {
          logger.log('created the database');
        }
        const dataSource = await new DataSource(typeorm as DataSourceOptions).initialize();
        try {
          if (deni.migrationsRun) {
            const applied = await runMigrations(dataSource);
            if (applied.length) logger.log(`applied migrations: ${applied.join(', ')}`);
          }
        } catch (e) {
          // Nest retries the factory: do not leave this data source's pool behind.
          await dataSource.destroy().catch(() => undefined);
          throw e;
        }
        return dataSource;
      },
    }),
  ],
  providers: [TransactionService],
  exports: [TransactionService],
})
export class DatabaseModule {}
