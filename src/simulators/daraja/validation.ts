import { constants, privateDecrypt, timingSafeEqual, type KeyObject } from 'node:crypto';

/** What Daraja checks in the requests it is sent: field formats, secrets and credentials. */

export const MSISDN = /^254[17]\d{8}$/;
export const SHORTCODE = /^\d{5,7}$/;
/** STK push TransactionType, and C2B simulate CommandID. */
export const STK_TYPES = ['CustomerPayBillOnline', 'CustomerBuyGoodsOnline'];

/** A request field as text: a string or a number as it is written, anything else (absent, an object) as ''. */
export function scalar(value: unknown): string {
  return typeof value === 'string'
    ? value
    : typeof value === 'number' || typeof value === 'bigint'
      ? String(value)
      : '';
}

export function asObject(body: unknown): Record<string, unknown> {
  return typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}

/** Whole shillings from a number or a digit string (Daraja takes both); null otherwise. */
export function wholeAmount(value: unknown): number | null {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d{1,12}$/.test(value.trim())
        ? Number(value)
        : Number.NaN;
  return Number.isSafeInteger(n) ? n : null;
}

/** Absent, null or a string. */
export function isOptionalText(value: unknown): boolean {
  return value === undefined || value === null || typeof value === 'string';
}

export function isHttpUrl(value: unknown): boolean {
  return typeof value === 'string' && URL.canParse(value) && /^https?:$/.test(new URL(value).protocol);
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether a SecurityCredential is `expected` encrypted with the certificate's key. */
export function decrypts(credential: string, privateKey: KeyObject, expected: string): boolean {
  try {
    const plain = privateDecrypt(
      { key: privateKey, padding: constants.RSA_PKCS1_PADDING },
      Buffer.from(credential, 'base64'),
    );
    return safeEqual(plain.toString('utf8'), expected);
  } catch {
    return false;
  }
}
