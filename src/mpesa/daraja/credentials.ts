// The secrets Daraja's requests carry, computed from the configured passkey and password.
import { constants, createPublicKey, publicEncrypt, X509Certificate, type KeyObject } from 'node:crypto';

/** STK push and query Password: base64(shortcode + passkey + timestamp). */
export function stkPassword(shortcode: string, passkey: string, timestamp: string): string {
  return Buffer.from(`${shortcode}${passkey}${timestamp}`, 'utf8').toString('base64');
}

/**
 * B2C SecurityCredential: the initiator password encrypted with the public key of Safaricom's
 * certificate (an X.509 certificate PEM; a bare public key PEM also works), RSA PKCS#1 v1.5,
 * base64. The ciphertext differs on every call (random padding); Daraja decrypts it.
 */
export function securityCredential(password: string, certificatePem: string | KeyObject): string {
  const key = typeof certificatePem === 'string' ? publicKeyOf(certificatePem) : certificatePem;
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(password, 'utf8')).toString('base64');
}

/** The public key inside a certificate PEM (or a public key PEM as is). */
export function publicKeyOf(pem: string): KeyObject {
  if (pem.includes('BEGIN CERTIFICATE')) return new X509Certificate(pem).publicKey;
  return createPublicKey(pem);
}
