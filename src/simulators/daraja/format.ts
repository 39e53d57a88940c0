import { randomBytes, randomInt } from 'node:crypto';
import { nairobiTimestamp } from '../../mpesa/daraja.parsers.js';

/** How Daraja writes what it sends: ids, receipts, amounts, dates and error envelopes. */

export const SUCCESS_DESC = 'The service request is processed successfully.';

/** A number written with two decimals (`1.00`, `8959269.60`), as Daraja writes amounts. */
export class Fixed2 {
  constructor(readonly value: number) {}
  toJSON(): string {
    return `@@fixed2:${this.value.toFixed(2)}@@`;
  }
}

/** JSON with every `Fixed2` written as a bare number with two decimals. */
export function darajaJson(body: unknown): string {
  return JSON.stringify(body).replace(/"@@fixed2:(-?\d+\.\d\d)@@"/g, '$1');
}

export function darajaError(errorCode: string, errorMessage: string) {
  return { requestId: darajaRequestId(), errorCode, errorMessage };
}

/** Daraja's answer to a request with a missing or malformed field. */
export function invalidFieldError(field: string) {
  return darajaError('400.002.02', `Bad Request - Invalid ${field}`);
}

/** Like Daraja's `1c5b-4ba8-815c-ac45c57a3db01469899`. */
export function darajaRequestId(): string {
  const hex = (n: number) =>
    randomBytes(Math.ceil(n / 2))
      .toString('hex')
      .slice(0, n);
  return `${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}${randomInt(1_000_000, 10_000_000)}`;
}

/** Like `ws_CO_1007202409152617172396192`: ws_CO_ + DDMMYYYYHHmmss (Nairobi) + digits. */
export function checkoutRequestId(): string {
  const t = nairobiTimestamp();
  return `ws_CO_${t.slice(6, 8)}${t.slice(4, 6)}${t.slice(0, 4)}${t.slice(8)}${String(randomInt(0, 1_000_000_000)).padStart(9, '0')}${randomInt(100, 1000)}`;
}

/** Like `AG_20240706_2010434a6f4b8d2e1f2c`: AG_ + the Nairobi date + 20 hex digits. */
export function conversationId(): string {
  return `AG_${nairobiTimestamp().slice(0, 8)}_${randomBytes(10).toString('hex')}`;
}

/** Like `12345-67890123-1`, as M-PESA makes one up for a request that brought none. */
export function originatorConversationId(): string {
  return `${randomInt(1_000, 100_000)}-${randomInt(1_000_000, 100_000_000)}-1`;
}

/** M-PESA receipts: a letter for the year (2019 → N, 2024 → S), one for the month, then 8 characters. */
export function receiptNumber(now = new Date()): string {
  const t = nairobiTimestamp(now);
  const year = String.fromCharCode(65 + ((Number(t.slice(0, 4)) - 2006) % 26));
  const month = String.fromCharCode(64 + Number(t.slice(4, 6)));
  return `${year}${month}${alnum(8, false)}`;
}

export function alnum(length: number, mixedCase: boolean): string {
  const alphabet = mixedCase
    ? 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
    : 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return Array.from({ length }, () => alphabet[randomInt(0, alphabet.length)]).join('');
}

/** `06.07.2024 22:48:52`, Nairobi time. */
export function b2cDateTime(): string {
  const t = nairobiTimestamp();
  return `${t.slice(6, 8)}.${t.slice(4, 6)}.${t.slice(0, 4)} ${t.slice(8, 10)}:${t.slice(10, 12)}:${t.slice(12, 14)}`;
}
