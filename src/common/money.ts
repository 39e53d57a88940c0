import { DomainError } from './domain-error.js';

/**
 * Money is whole Kenya shillings as integers, everywhere. In TypeScript a `number` that is a safe
 * integer; in PostgreSQL a `bigint`. No fractions, no floating point arithmetic on amounts.
 */
export type Shillings = number;

export function isShillings(value: unknown): value is Shillings {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

/** A positive whole amount, or AMOUNT.INVALID naming the field. */
export function assertPositiveShillings(value: unknown, field = 'amount'): Shillings {
  if (!isShillings(value) || value <= 0) {
    throw new DomainError('AMOUNT.INVALID', 'invalid', `${field} must be a whole number of shillings above 0`, {
      field,
    });
  }
  return value;
}

/** The one money formatter for screens and SMS: `Ksh 5000` (the seed's wording). */
export function formatKsh(amount: Shillings): string {
  return `Ksh ${amount}`;
}
