import { generateKeyPairSync } from 'node:crypto';
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
