import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from './postgres-errors.js';
import { isRedisUnavailable } from './redis-errors.js';
import { DomainError, type DomainErrorKind } from './domain-error.js';

const STATUS_BY_KIND: Record<DomainErrorKind, number> = {
  invalid: HttpStatus.UNPROCESSABLE_ENTITY,
  unauthorized: HttpStatus.UNAUTHORIZED,
  forbidden: HttpStatus.FORBIDDEN,
  not_found: HttpStatus.NOT_FOUND,
  conflict: HttpStatus.CONFLICT,
  locked: HttpStatus.LOCKED,
  rate_limited: HttpStatus.TOO_MANY_REQUESTS,
  unavailable: HttpStatus.SERVICE_UNAVAILABLE,
};

const DATABASE_UNAVAILABLE = 'SERVICE.DATABASE_UNAVAILABLE';
const REDIS_UNAVAILABLE = 'SERVICE.REDIS_UNAVAILABLE';
const UNAVAILABLE_MESSAGE = 'The service is temporarily unavailable. Please try again in a few minutes.';

export interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  details?: Record<string, unknown>;
  errors?: { field: string; reason: string }[];
  requestId?: string;
}

/** Codes for errors raised by the HTTP layer itself rather than by a module. */
function httpCode(status: number): string {
  switch (status) {
    case 400:
      return 'REQUEST.INVALID';
    case 401:
      return 'AUTH.UNAUTHORIZED';
    case 403:
      return 'AUTH.FORBIDDEN';
    case 404:
      return 'REQUEST.NOT_FOUND';
    case 405:
      return 'REQUEST.METHOD_NOT_ALLOWED';
    case 413:
      return 'REQUEST.TOO_LARGE';
    case 415:
      return 'REQUEST.UNSUPPORTED_MEDIA_TYPE';
    case 429:
      return 'REQUEST.RATE_LIMITED';
    case 503:
      return 'SERVICE.UNAVAILABLE';
    default:
      return status >= 500 ? 'INTERNAL' : 'REQUEST.FAILED';
  }
}

/**
 * The single mapping from errors to HTTP responses. Stack traces and internal messages never
 * reach the client; unexpected errors are logged with the request id and answered with 500.
 */
@Catch()
export class DomainExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const request = ctx.getRequest<FastifyRequest>();
    const body = this.toBody(exception);
    body.requestId = String(request.id);
    if (body.code === DATABASE_UNAVAILABLE || body.code === REDIS_UNAVAILABLE) {
      // The outage itself is logged once (DatabaseAvailability; each Redis connection, throttled):
      // one short line per request here.
      this.logger.warn(
        { requestId: request.id, code: body.code, reason: (exception as Error).message },
        'request failed',
      );
    } else if (body.statusCode >= 500) {
      this.logger.error({ err: exception, requestId: request.id, code: body.code }, 'request failed');
    }
    void reply.status(body.statusCode).header('content-type', 'application/json; charset=utf-8').send(body);
  }

  toBody(exception: unknown): ErrorBody {
    if (exception instanceof DomainError) {
      return {
        statusCode: STATUS_BY_KIND[exception.kind],
        code: exception.code,
        message: exception.message,
        ...(exception.details ? { details: exception.details } : {}),
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      if (typeof response === 'object' && response !== null && 'code' in response) {
        return { statusCode: status, ...(response as Omit<ErrorBody, 'statusCode'>) };
      }
      const detail = typeof response === 'string' ? response : (response as { message?: unknown }).message;
      const message =
        typeof detail === 'string' ? detail : Array.isArray(detail) ? detail.join('; ') : exception.message;
      return { statusCode: status, code: httpCode(status), message };
    }
    // Fastify's own errors (body too large, bad JSON, wrong content type) carry a statusCode.
    const fastifyStatus = (exception as { statusCode?: unknown })?.statusCode;
    if (typeof fastifyStatus === 'number' && fastifyStatus >= 400 && fastifyStatus < 500) {
      return {
        statusCode: fastifyStatus,
        code: httpCode(fastifyStatus),
        message: (exception as Error).message ?? 'Bad request',
      };
    }
    if (isDatabaseUnavailable(exception)) {
      return { statusCode: HttpStatus.SERVICE_UNAVAILABLE, code: DATABASE_UNAVAILABLE, message: UNAVAILABLE_MESSAGE };
    }
    // Sessions, limits, the PIN lockout and the queues are in Redis: without it, come back later.
    if (isRedisUnavailable(exception)) {
      return { statusCode: HttpStatus.SERVICE_UNAVAILABLE, code: REDIS_UNAVAILABLE, message: UNAVAILABLE_MESSAGE };
    }
    return { statusCode: 500, code: 'INTERNAL', message: 'Something went wrong on our side. Please try again.' };
  }
}
