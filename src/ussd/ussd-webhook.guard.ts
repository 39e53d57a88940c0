import type { BlockList } from 'node:net';
import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { FastifyRequest } from 'fastify';
import { adminKeyMatches } from '../auth/admin-key.js';
import { DomainError } from '../common/domain-error.js';
import { addressAllowed, allowlist } from '../common/ip-allowlist.js';
import type { AppConfig } from '../config/app-config.js';

export const WEBHOOK_SECRET_HEADER = 'x-ussd-secret';

/**
 * Gateways do not sign their requests. When configured, the webhook accepts only requests that
 * carry the shared secret (`?secret=` in the callback URL, or the X-USSD-Secret header) and come
 * from the allowed address ranges.
 */
@Injectable()
export class UssdWebhookGuard implements CanActivate {
  private readonly secret: string | undefined;
  private readonly allowed: BlockList | null;

  constructor(config: ConfigService<AppConfig, true>) {
    const ussd = config.get('ussd', { infer: true });
    this.secret = ussd.webhookSecret;
    this.allowed = allowlist(ussd.allowedIps);
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest<{ Querystring: { secret?: string } }>>();
    if (!addressAllowed(this.allowed, request.ip)) {
      throw new DomainError('USSD.FORBIDDEN_ADDRESS', 'forbidden', 'This address may not call the USSD webhook');
    }
    if (this.secret) {
      const given = request.headers[WEBHOOK_SECRET_HEADER] ?? (request.query as { secret?: unknown })?.secret;
      if (!adminKeyMatches(this.secret, given)) {
        throw new DomainError('USSD.BAD_SECRET', 'forbidden', 'The USSD webhook secret is missing or wrong');
      }
    }
    return true;
  }
}
