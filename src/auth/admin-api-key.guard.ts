import { applyDecorators, CanActivate, ExecutionContext, Injectable, UseGuards } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ApiSecurity, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../common/domain-error.js';
import type { AppConfig } from '../config/app-config.js';
import { ADMIN_KEY_HEADER, adminKeyMatches } from './admin-key.js';

@Injectable()
export class AdminApiKeyGuard implements CanActivate {
  constructor(private readonly config: ConfigService<AppConfig, true>) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const configured = this.config.get('security', { infer: true }).adminApiKey;
    if (adminKeyMatches(configured, request.headers[ADMIN_KEY_HEADER])) return true;
    throw new DomainError('AUTH.ADMIN_KEY_REQUIRED', 'unauthorized', `A valid ${ADMIN_KEY_HEADER} header is required`);
  }
}

/** Marks a route or controller as admin-only (monitoring, maintenance, dashboards). */
export const AdminOnly = () =>
  applyDecorators(
    UseGuards(AdminApiKeyGuard),
    ApiSecurity('admin-key'),
    ApiUnauthorizedResponse({ description: 'Missing or wrong X-API-Key' }),
  );
