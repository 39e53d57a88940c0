import {
  applyDecorators,
  CanActivate,
  createParamDecorator,
  ExecutionContext,
  Injectable,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../common/domain-error.js';
import { TokenService, type AuthenticatedUser } from './token.service.js';

type RequestWithUser = FastifyRequest & { user?: AuthenticatedUser };

@Injectable()
export class UserAuthGuard implements CanActivate {
  constructor(private readonly tokens: TokenService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<RequestWithUser>();
    const header = request.headers.authorization;
    const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    const user = token ? await this.tokens.verify(token) : null;
    if (!user) {
      throw new DomainError(
        'AUTH.TOKEN_REQUIRED',
        'unauthorized',
        'A valid bearer token is required (POST /api/auth/login)',
      );
    }
    request.user = user;
    return true;
  }
}

/** Marks a route as needing a user's bearer token. */
export const UserAuth = () =>
  applyDecorators(
    UseGuards(UserAuthGuard),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'Missing, forged or expired bearer token' }),
  );

/** The user the bearer token names (only on routes marked @UserAuth()). */
export const CurrentUser = createParamDecorator((_: unknown, context: ExecutionContext): AuthenticatedUser => {
  const user = context.switchToHttp().getRequest<RequestWithUser>().user;
  if (!user) throw new Error('CurrentUser used on a route without @UserAuth()');
  return user;
});
