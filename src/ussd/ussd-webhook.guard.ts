import { SharedSecretGuard } from '../auth/shared-secret.guard.js';
import { DomainError } from '../common/domain-error.js';

export const WEBHOOK_SECRET_HEADER = 'x-ussd-secret';

/**
 * Gateways do not sign their requests. When configured, the webhook accepts only requests that
 * carry the shared secret (`?secret=` in the callback URL, or the X-USSD-Secret header) and come
 * from the allowed address ranges.
 */
export const UssdWebhookGuard = SharedSecretGuard({
  callers: (config) => {
    const ussd = config.get('ussd', { infer: true });
    return { secret: ussd.webhookSecret, allowedIps: ussd.allowedIps };
  },
  presented: (request) =>
    request.headers[WEBHOOK_SECRET_HEADER] ?? (request.query as { secret?: unknown } | undefined)?.secret,
  badSecret: () => new DomainError('USSD.BAD_SECRET', 'forbidden', 'The USSD webhook secret is missing or wrong'),
  badAddress: () =>
    new DomainError('USSD.FORBIDDEN_ADDRESS', 'forbidden', 'This address may not call the USSD webhook'),
});
