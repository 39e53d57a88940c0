// Checks of a request's form, before anything is sent. Limits that are Daraja's business rules
// (B2C's 10 to 250,000) are left to Daraja, which owns them.
import { DarajaError, INVALID_REQUEST, type DarajaOperation } from '../daraja.errors.js';

const MSISDN = /^254[17]\d{8}$/;

export function invalid(operation: DarajaOperation, message: string): DarajaError {
  return new DarajaError({ operation, errorCode: INVALID_REQUEST, errorMessage: message, retryable: false });
}

export function wholeAmount(operation: DarajaOperation, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw invalid(operation, 'amount must be whole shillings, at least 1');
  return value;
}

export function msisdn(operation: DarajaOperation, value: unknown, field: string): string {
  if (typeof value !== 'string' || !MSISDN.test(value))
    throw invalid(operation, `${field} must be a Kenyan mobile number like 254712345678`);
  return value;
}

export function boundedText(
  operation: DarajaOperation,
  value: unknown,
  field: string,
  max: number,
  allowEmpty = false,
): string {
  if (typeof value !== 'string' || (!allowEmpty && value.trim() === '') || value.length > max) {
    throw invalid(operation, `${field} must be ${allowEmpty ? 'at most' : '1 to'} ${max} characters`);
  }
  return value;
}

export function url(operation: DarajaOperation, value: unknown, field: string): string {
  if (typeof value !== 'string' || !URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw invalid(operation, `${field} must be an http(s) URL`);
  }
  return value;
}
