import { applyDecorators, CanActivate, ExecutionContext, Injectable, UseGuards } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiForbiddenResponse, ApiSecurity, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../common/domain-error.js';
import type { AppConfig } from '../config/app-config.js';
import { ADMIN_KEY_HEADER, adminRefusal } from './admin-key.js';

@Injectable()
export class AdminApiKeyGuard implements CanActivate {
  constructor(private readonly config: ConfigService<AppConfig, true>) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const refusal = adminRefusal(
      this.config.get('security', { infer: true }).adminApiKey,
      request.headers[ADMIN_KEY_HEADER],
      request.raw.socket?.remoteAddress,
    );
    if (!refusal) return true;
    throw new DomainError(refusal.code, refusal.kind, refusal.message);
  }
}

/** Marks a route or controller as admin-only (monitoring, maintenance, dashboards). */
export const AdminOnly = () =>
  applyDecorators(
    UseGuards(AdminApiKeyGuard),
    ApiSecurity('admin-key'),
    ApiUnauthorizedResponse({ description: 'Missing or wrong X-API-Key' }),
    ApiForbiddenResponse({ description: 'No ADMIN_API_KEY is set and the caller is not on loopback' }),
  );
