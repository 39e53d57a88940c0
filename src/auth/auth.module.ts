import { Global, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JwtModule } from '@nestjs/jwt';
import type { AppConfig } from '../config/app-config.js';
import { AdminApiKeyGuard } from './admin-api-key.guard.js';
import { TokenService } from './token.service.js';
import { UserAuthGuard } from './user-auth.guard.js';

@Global()
@Module({
  imports: [
    JwtModule.registerAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) => ({
        secret: config.get('security', { infer: true }).jwtSecret,
        signOptions: { algorithm: 'HS256', issuer: 'deni' },
        verifyOptions: { algorithms: ['HS256'], issuer: 'deni' },
      }),
    }),
  ],
  providers: [AdminApiKeyGuard, UserAuthGuard, TokenService],
  exports: [AdminApiKeyGuard, UserAuthGuard, TokenService],
})
export class AuthModule {}
