import { Global, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import type { AppConfig } from '../config/app-config.js';
import { DatabaseAvailability } from './database-availability.js';
import { dataSourceOptions } from './data-source.options.js';
import { TransactionService } from './transaction.service.js';

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>): TypeOrmModuleOptions => ({
        ...dataSourceOptions({ database: config.get('database', { infer: true }) }),
        // DatabaseAvailability connects it (and migrates), so the service starts while PostgreSQL
        // is down and connects once it is back.
        manualInitialization: true,
        // Each module registers its own entities (TypeOrmModule.forFeature): database knows no feature.
        autoLoadEntities: true,
      }),
    }),
  ],
  providers: [DatabaseAvailability, TransactionService],
  exports: [DatabaseAvailability, TransactionService],
})
export class DatabaseModule {}
