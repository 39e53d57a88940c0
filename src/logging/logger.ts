import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { LoggerService, LogLevel } from '@nestjs/common';
import { pino, type Bindings, type ChildLoggerOptions, type DestinationStream, type Logger } from 'pino';
import type { AppConfig } from '../config/app-config.js';
import { REDACT_PATHS } from './redaction.js';

/**
 * The process's one pino logger: JSON lines, secrets redacted. Fastify uses it for request logs
 * (each line carries `reqId`) and Nest's own logging goes through PinoNestLogger below.
 */
export function createRootLogger(config: Pick<AppConfig, 'log' | 'role'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.log.level,
    base: { service: 'deni', role: config.role },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The caller's `x-request-id` when it is sane, else a new UUID. */
export function requestIdFor(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** Nest's LoggerService on top of pino, so framework and module logs share one format. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  private write(level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace', message: unknown, params: unknown[]) {
    // Nest passes the context as the last string argument.
    const context =
      params.length && typeof params[params.length - 1] === 'string' ? (params.pop() as string) : undefined;
    const log = context ? this.logger.child({ context }) : this.logger;
    if (level === 'error' && typeof params[0] === 'string' && params[0].includes('\n    at ')) {
      // Nest's (message, stack) form: keep the stack as a field, not as the message.
      log.error({ stack: params[0] }, String(message));
      return;
    }
    if (typeof message === 'object' && message !== null) {
      if (message instanceof Error) log[level]({ err: message }, message.message);
      else log[level](message, typeof params[0] === 'string' ? params[0] : undefined);
      return;
    }
    log[level](String(message));
  }

  log(message: unknown, ...params: unknown[]) {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]) {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]) {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]) {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]) {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]) {
    this.write('fatal', message, params);
  }
  setLogLevels(_levels: LogLevel[]) {
    // pino's level comes from LOG_LEVEL.
  }
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
const noop = () => undefined;

/**
 * Fastify's per-request logger, made only when the request logs something at an enabled level.
 * A pino child costs its bindings' serialisation (and the redaction set-up) on every request, which
 * under load was a twentieth of a USSD step's CPU, for lines that are mostly below LOG_LEVEL.
 */
export function lazyChildLogger(parent: Logger, bindings: Bindings, options?: ChildLoggerOptions): Logger {
  let child: Logger | undefined;
  const real = () => (child ??= parent.child(bindings, options));
  return new Proxy(parent, {
    get(target, prop) {
      if (typeof prop === 'string' && (LEVELS.has(prop) || prop === 'child')) {
        // Fastify checks these methods exist on every request: that alone must not make the child.
        if (prop !== 'child' && !target.isLevelEnabled(prop)) return noop;
        return (...args: unknown[]) => {
          const child = real();
          const method: (...a: unknown[]) => void = child[prop as 'info'];
          method.apply(child, args);
        };
      }
      const value: unknown = Reflect.get(real(), prop, real());
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(real()) : value;
    },
  });
}
