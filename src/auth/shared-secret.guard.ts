import type { BlockList } from 'node:net';
import { type CanActivate, type ExecutionContext, Injectable, type Type } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { FastifyRequest } from 'fastify';
import type { DomainError } from '../common/domain-error.js';
import { addressAllowed, allowlist } from '../common/ip-allowlist.js';
import type { AppConfig } from '../config/app-config.js';
import { adminKeyMatches } from './admin-key.js';

/** Who may call a provider's route: the shared secret they must present, and their address ranges. */
export interface SharedSecretCallers {
  /** Undefined or empty: no secret is asked for. */
  secret: string | undefined;
  /** Undefined or empty: any address. */
  allowedIps: string[] | undefined;
}

export interface SharedSecretGuardOptions {
  callers(config: ConfigService<AppConfig, true>): SharedSecretCallers;
  /** Where the caller puts the secret (a path parameter, a query parameter, a header). */
  presented(request: FastifyRequest): unknown;
  /** Thrown for a missing or wrong secret; a 404 hides that the route exists. */
  badSecret(): DomainError;
  /** Thrown for a caller outside the allowed ranges (judged from request.ip, so TRUST_PROXY applies). */
  badAddress(): DomainError;
}

/**
 * The one guard for callers that cannot sign their requests (Daraja, Africa's Talking, USSD
 * gateways): the shared secret, compared in constant time, then the address allowlist. The secret
 * comes first so a stranger learns nothing about the allowlist of a route they cannot name.
 */
export function SharedSecretGuard(options: SharedSecretGuardOptions): Type<CanActivate> {
  @Injectable()
  class Guard implements CanActivate {
    private readonly secret: string | undefined;
    private readonly allowed: BlockList | null;

    constructor(config: ConfigService<AppConfig, true>) {
      const callers = options.callers(config);
      this.secret = callers.secret;
      this.allowed = allowlist(callers.allowedIps);
    }

    canActivate(context: ExecutionContext): boolean {
      const request = context.switchToHttp().getRequest<FastifyRequest>();
      if (!adminKeyMatches(this.secret, options.presented(request))) throw options.badSecret();
      if (!addressAllowed(this.allowed, request.ip)) throw options.badAddress();
      return true;
    }
  }
  return Guard;
}
