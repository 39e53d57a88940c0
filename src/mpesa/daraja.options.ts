import { createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { requireMpesaBaseUrl, type MpesaConfig } from '../config/app-config.js';

/** The injection token of DarajaClientOptions (MpesaModule provides it; an application or a test may override it). */
export const DARAJA_OPTIONS = Symbol('DARAJA_OPTIONS');

export type StkTransactionType = 'CustomerPayBillOnline' | 'CustomerBuyGoodsOnline';

/** What DarajaClient needs; MpesaModule builds it from AppConfig.mpesa (darajaClientOptions). */
export interface DarajaClientOptions {
  /** Daraja's base URL: Safaricom's, or a Daraja simulator's (its own process, never Deni's). */
  baseUrl: string;
  consumerKey: string;
  consumerSecret: string;
  shortcode: string;
  passkey: string;
  transactionType: StkTransactionType;
  b2cShortcode: string;
  initiatorName: string;
  initiatorPassword: string;
  /** Safaricom's certificate (PEM). Undefined: fetched from the simulator over HTTP when allowed below. */
  certificatePem?: string;
  /** Read the certificate from `<baseUrl>/simulator/certificate` (never in production, but in the demo). */
  simulatorCertificate: boolean;
  /** Per HTTP call, through reading the answer. */
  timeoutMs: number;
  /** Extra attempts of an idempotent call after a network failure or timeout (default 2). */
  retries?: number;
  /** First retry delay, doubling each time (default 200 ms). */
  retryBackoffMs?: number;
  now?: () => Date;
}

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
