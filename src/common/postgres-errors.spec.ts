import { isUuid } from './ids.js';
import { uniqueViolation } from './postgres-errors.js';

describe('uniqueViolation', () => {
  it('names the constraint of a unique violation, as pg and TypeORM carry it', () => {
    expect(uniqueViolation({ code: '23505', constraint: 'loans_one_pending' })).toBe('loans_one_pending');
    expect(uniqueViolation({ driverError: { code: '23505', constraint: 'x_key' } })).toBe('x_key');
    expect(uniqueViolation({ code: '23505' })).toBe('');
  });

  it('is null for every other error', () => {
    expect(uniqueViolation({ code: '23503', constraint: 'fk' })).toBeNull();
    expect(uniqueViolation(new Error('boom'))).toBeNull();
    expect(uniqueViolation(null)).toBeNull();
  });
});

describe('isUuid', () => {
  it('accepts the canonical spelling in either case and nothing else', () => {
    expect(isUuid('123e4567-e89b-12d3-a456-426614174000')).toBe(true);
    expect(isUuid('123E4567-E89B-12D3-A456-426614174000')).toBe(true);
    expect(isUuid('123e4567e89b12d3a456426614174000')).toBe(false);
    expect(isUuid("123e4567-e89b-12d3-a456-426614174000' OR 1=1")).toBe(false);
    expect(isUuid('')).toBe(false);
  });
});
