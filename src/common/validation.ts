import { type ArgumentMetadata, BadRequestException, ValidationError, ValidationPipe } from '@nestjs/common';

/** Deeper than any request body of the API (sync push is 4 levels); class-transformer recurses. */
const MAX_BODY_DEPTH = 32;

/** Whether `value` nests objects or arrays deeper than `max` (iterative: cannot overflow itself). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length) {
    const [item, depth] = pending.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= max) return true;
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return false;
}

/**
 * class-transformer walks bodies recursively: a JSON body of a few thousand nested arrays (well
 * under the body limit) overflowed the stack into a 500. Such bodies are refused first.
 */
class BoundedValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (nestedDeeperThan(value, MAX_BODY_DEPTH)) {
      throw new BadRequestException({
        code: 'REQUEST.VALIDATION_FAILED',
        message: `The request nests deeper than ${MAX_BODY_DEPTH} levels`,
        errors: [{ field: metadata.data ?? metadata.type, reason: `nested deeper than ${MAX_BODY_DEPTH} levels` }],
      });
    }
    return super.transform(value, metadata);
  }
}

function flatten(errors: ValidationError[], parent = ''): { field: string; reason: string }[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((reason) => ({ field, reason }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/** Rejects unknown fields and reports every bad field with its reason. */
export function createValidationPipe(): ValidationPipe {
  return new BoundedValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    stopAtFirstError: false,
    exceptionFactory: (errors) => {
      const list = flatten(errors);
      return new BadRequestException({
        code: 'REQUEST.VALIDATION_FAILED',
        message: list.map((e) => `${e.field}: ${e.reason}`).join('; ') || 'Invalid request',
        errors: list,
      });
    },
  });
}
