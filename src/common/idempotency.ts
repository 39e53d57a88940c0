import { ApiHeader } from '@nestjs/swagger';
import { DomainError } from './domain-error.js';

const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{1,64}$/;

/** The `Idempotency-Key` header, checked; undefined when absent. */
export function idempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!IDEMPOTENCY_KEY.test(header)) {
    throw new DomainError(
      'REQUEST.BAD_IDEMPOTENCY_KEY',
      'invalid',
      'Idempotency-Key must be 1–64 letters, digits or _.:-',
    );
  }
  return header;
}

export const IdempotencyHeader = (required = false) =>
  ApiHeader({ name: 'Idempotency-Key', required, description: 'Retries with the same key act once' });
