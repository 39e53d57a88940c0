import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import type { AppConfig } from './app-config.js';

/** Typed access: `config.get('redis', { infer: true })`. */
export type TypedConfigService = ConfigService<AppConfig, true>;

/**
 * Wraps @nestjs/config around a configuration already validated by `loadConfig`, so that the
 * bootstrap (which needs it before Nest starts) and the modules read the same object.
 */
@Module({})
export class AppConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppConfigModule,
      imports: [ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, load: [() => config] })],
      exports: [ConfigModule],
    };
  }
}
