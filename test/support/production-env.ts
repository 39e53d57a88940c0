import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedCertificate } from '../../src/simulators/daraja/self-signed-certificate.js';

let certificatePath: string | undefined;

/** A readable PEM certificate standing in for Safaricom's (production reads MPESA_CERT_PATH at start-up). */
function certificate(): string {
  if (!certificatePath) {
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    certificatePath = join(mkdtempSync(join(tmpdir(), 'deni-cert-')), 'safaricom.cer');
    writeFileSync(certificatePath, selfSignedCertificate(keys, 'test-safaricom'));
  }
  return certificatePath;
}

/**
 * Freshly generated values for the secrets a production process checks callers against, for a
 * run that starts Deni as production does (the bench, the fault test): nobody else knows them.
 */
export function freshSecrets() {
  return {
    ADMIN_API_KEY: randomBytes(16).toString('hex'),
    JWT_SECRET: randomBytes(32).toString('hex'),
    PIN_PEPPER: randomBytes(32).toString('hex'),
    USSD_WEBHOOK_SECRET: randomBytes(16).toString('hex'),
    MPESA_CALLBACK_SECRET: randomBytes(16).toString('hex'),
    AT_DELIVERY_REPORT_SECRET: randomBytes(16).toString('hex'),
  };
}

/** Everything NODE_ENV=production requires, with test values (nothing here reaches a real service). */
export function productionEnv(): Record<string, string> {
  return {
    NODE_ENV: 'production',
    ADMIN_API_KEY: 'prod-admin-key-0123456789',
    JWT_SECRET: 'j'.repeat(40),
    PIN_PEPPER: 'p'.repeat(40),
    USSD_WEBHOOK_SECRET: 'u'.repeat(20),
    MPESA_BASE_URL: 'https://daraja.invalid',
    SAFARICOM_CONSUMER_KEY: 'consumer-key',
    SAFARICOM_CONSUMER_SECRET: 'consumer-secret',
    MPESA_PASSKEY: 'passkey',
    MPESA_INITIATOR_NAME: 'deni-initiator',
    MPESA_INITIATOR_PASSWORD: 'initiator-password',
    MPESA_CERT_PATH: certificate(),
    MPESA_CALLBACK_BASE_URL: 'https://deni.invalid',
    MPESA_CALLBACK_SECRET: 'c'.repeat(24),
    MPESA_CALLBACK_ALLOWED_IPS: '196.201.214.0/24',
  };
}
