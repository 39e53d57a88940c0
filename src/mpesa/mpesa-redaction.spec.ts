import { memorySink } from '../../test/support/logs.js';
import { createRootLogger } from '../logging/logger.js';

describe('M-PESA secrets in logs', () => {
  it('never writes Daraja credentials, tokens or callback URLs (they carry the callback secret)', () => {
    const sink = memorySink();
    const logger = createRootLogger({ log: { level: 'info' }, role: 'all' }, sink.stream);
    const secrets = {
      consumerSecret: 'consumer-secret-value',
      initiatorPassword: 'initiator-password-value',
      callbackSecret: 'callback-secret-value',
      passkey: 'passkey-value',
      access_token: 'access-token-value',
    };
    logger.info({ mpesa: secrets }, 'config');
    logger.info(
      {
        body: {
          Password: 'stk-password-value',
          SecurityCredential: 'credential-value',
          CallBackURL: 'https://x/cb/url-secret-1',
        },
      },
      'stk',
    );
    logger.info(
      { request: { ResultURL: 'https://x/cb/url-secret-2', QueueTimeOutURL: 'https://x/cb/url-secret-3' } },
      'b2c',
    );
    logger.info(
      {
        env: {
          SAFARICOM_CONSUMER_SECRET: 'env-secret-1',
          MPESA_INITIATOR_PASSWORD: 'env-secret-2',
          MPESA_CALLBACK_SECRET: 'env-secret-3',
        },
      },
      'env',
    );
    const out = sink.text();
    for (const value of [
      ...Object.values(secrets),
      'stk-password-value',
      'credential-value',
      'url-secret-1',
      'url-secret-2',
      'url-secret-3',
      'env-secret-1',
      'env-secret-2',
      'env-secret-3',
    ]) {
      expect(out).not.toContain(value);
    }
    expect(out).toContain('[redacted]');
  });
});
