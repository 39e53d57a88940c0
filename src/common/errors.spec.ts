import { BadRequestException, HttpException, NotFoundException } from '@nestjs/common';
import { IsInt, IsString, Max, Min } from 'class-validator';
import { ADMIN_KEY_HEADER, adminKeyMatches } from '../auth/admin-key.js';
import { DomainError, type DomainErrorKind } from './domain-error.js';
import { DomainExceptionFilter } from './domain-exception.filter.js';
import { createValidationPipe } from './validation.js';

class SampleDto {
  @IsString()
  phoneNumber!: string;

  @IsInt()
  @Min(100)
  @Max(250_000)
  amount!: number;
}

describe(DomainExceptionFilter.name, () => {
  const filter = new DomainExceptionFilter();

  it.each<[DomainErrorKind, number]>([
    ['invalid', 422],
    ['unauthorized', 401],
    ['forbidden', 403],
    ['not_found', 404],
    ['conflict', 409],
    ['locked', 423],
    ['rate_limited', 429],
    ['unavailable', 503],
  ])('maps a %s domain error to %i with its code and details', (kind, status) => {
    const body = filter.toBody(new DomainError('USER.PIN_LOCKED', kind, 'Locked', { retryAfterSeconds: 60 }));
    expect(body).toEqual({
      statusCode: status,
      code: 'USER.PIN_LOCKED',
      message: 'Locked',
      details: { retryAfterSeconds: 60 },
    });
  });

  it('keeps framework errors coded', () => {
    expect(filter.toBody(new NotFoundException())).toMatchObject({ statusCode: 404, code: 'REQUEST.NOT_FOUND' });
    expect(filter.toBody(new HttpException('Payload Too Large', 413))).toMatchObject({ code: 'REQUEST.TOO_LARGE' });
    expect(filter.toBody(Object.assign(new Error('Body is not valid JSON'), { statusCode: 400 }))).toMatchObject({
      statusCode: 400,
      code: 'REQUEST.INVALID',
    });
  });

  it('never leaks an unexpected error', () => {
    const body = filter.toBody(new TypeError("Cannot read properties of undefined (reading 'pin_hash')"));
    expect(body).toEqual({ statusCode: 500, code: 'INTERNAL', message: expect.any(String) as unknown });
    expect(JSON.stringify(body)).not.toMatch(/pin_hash|TypeError|\.ts:\d+/);
  });
});

describe('validation pipe', () => {
  const pipe = createValidationPipe();
  const meta = { type: 'body' as const, metatype: SampleDto };

  async function failure(value: unknown) {
    try {
      await pipe.transform(value, meta);
    } catch (e) {
      return (e as BadRequestException).getResponse() as { code: string; errors: { field: string; reason: string }[] };
    }
    throw new Error('expected a validation failure');
  }

  it('names every bad field with its reason', async () => {
    const res = await failure({ phoneNumber: 712, amount: 12.5 });
    expect(res.code).toBe('REQUEST.VALIDATION_FAILED');
    expect(res.errors.map((e) => e.field).sort()).toEqual(['amount', 'amount', 'phoneNumber']);
  });

  it('rejects unknown fields', async () => {
    const res = await failure({ phoneNumber: '0712345678', amount: 500, isAdmin: true });
    expect(res.errors).toEqual([{ field: 'isAdmin', reason: 'property isAdmin should not exist' }]);
  });

  it('refuses numbers past 2^53 and strings for amounts', async () => {
    expect((await failure({ phoneNumber: 'x', amount: 2 ** 53 + 2 })).errors.map((e) => e.field)).toContain('amount');
    expect((await failure({ phoneNumber: 'x', amount: '500' })).errors.map((e) => e.field)).toContain('amount');
  });

  it('passes a good body through as the DTO', async () => {
    const ok: unknown = await pipe.transform({ phoneNumber: '0712345678', amount: 500 }, meta);
    expect(ok).toBeInstanceOf(SampleDto);
  });
});

describe(adminKeyMatches.name, () => {
  it('requires the exact key when one is configured', () => {
    expect(ADMIN_KEY_HEADER).toBe('x-api-key');
    expect(adminKeyMatches('k'.repeat(20), 'k'.repeat(20))).toBe(true);
    expect(adminKeyMatches('k'.repeat(20), 'k'.repeat(19))).toBe(false);
    expect(adminKeyMatches('k'.repeat(20), undefined)).toBe(false);
    expect(adminKeyMatches('k'.repeat(20), ['k'.repeat(20)])).toBe(false);
  });

  it('is open only when no key is configured (development)', () => {
    expect(adminKeyMatches(undefined, undefined)).toBe(true);
  });
});
