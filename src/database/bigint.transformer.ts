import type { ValueTransformer } from 'typeorm';

/** PostgreSQL bigint (a string in node-postgres) ↔ a safe integer, refusing anything larger. */
export const bigintToNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => {
    if (value === null || value === undefined) return value;
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new Error(`bigint ${value} is beyond the safe integer range`);
    return n;
  },
};
