import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from './src/config/app-config.js';
import { dataSourceOptions } from './src/database/data-source.options.js';
import { ENTITIES } from './src/entities.js';

/**
 * The DataSource of the TypeORM CLI (`npm run migration:generate|run|revert`).
 * It reads the same validated configuration as the service (DATABASE_URL, …).
 */
export default new DataSource(dataSourceOptions(loadConfig(), ENTITIES));
