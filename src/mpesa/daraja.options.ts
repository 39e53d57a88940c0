import { createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { requireMpesaBaseUrl, type MpesaConfig } from '../config/app-config.js';
import type { DarajaClientOptions } from './daraja.client.js';

/**
 * DarajaClient's options from AppConfig.mpesa. Daraja is always another process: Safaricom's, or
 * outside production a simulator's (the simulators process in development, the tests' own in
 * tests). Outside production, with no MPESA_CERT_PATH, the SecurityCredential certificate is read
 * from that simulator over HTTP (`/simulator/certificate`).
 */
export function darajaClientOptions(mpesa: MpesaConfig): DarajaClientOptions {
  return {
    baseUrl: requireMpesaBaseUrl(mpesa),
    consumerKey: mpesa.consumerKey,
    consumerSecret: mpesa.consumerSecret,
    shortcode: mpesa.shortcode,
    passkey: mpesa.passkey,
    transactionType: mpesa.transactionType,
    b2cShortcode: mpesa.b2cShortcode,
    initiatorName: mpesa.initiatorName,
    initiatorPassword: mpesa.initiatorPassword,
    certificatePem: mpesa.certPath ? readCertificate(mpesa.certPath) : undefined,
    simulatorCertificate: mpesa.simulatorCertificate,
    timeoutMs: mpesa.timeoutMs,
  };
}

/** Safaricom's certificate as PEM (it ships as a PEM `.cer`; DER is accepted too). Fails at start-up, not at the first B2C. */
export function readCertificate(path: string): string {
  let content: Buffer;
  try {
    content = readFileSync(path);
  } catch (e) {
    throw new Error(`MPESA_CERT_PATH: cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return new X509Certificate(content).toString();
  } catch {
    try {
      // A bare public key PEM works as well as a certificate.
      return createPublicKey(content).export({ type: 'spki', format: 'pem' }).toString();
    } catch {
      throw new Error(`MPESA_CERT_PATH: ${path} is not an X.509 certificate or public key`);
    }
  }
}
