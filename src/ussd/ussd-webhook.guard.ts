import { BlockList, isIP } from 'node:net';
import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { FastifyRequest } from 'fastify';
import { adminKeyMatches } from '../auth/admin-key.js';
import { DomainError } from '../common/domain-error.js';
import type { AppConfig } from '../config/app-config.js';

export const WEBHOOK_SECRET_HEADER = 'x-ussd-secret';

/** Builds the allowlist from CIDRs (or single addresses); null when none is configured. */
export function allowlist(cidrs: string[] | undefined): BlockList | null {
  if (!cidrs?.length) return null;
  const list = new BlockList();
  for (const entry of cidrs) {
    const [address, bits] = entry.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return list;
}

export function addressAllowed(list: BlockList | null, ip: string): boolean {
  if (!list) return true;
  const plain = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  const type = isIP(plain) === 6 ? 'ipv6' : 'ipv4';
  return isIP(plain) !== 0 && list.check(plain, type);
}

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
