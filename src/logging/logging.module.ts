import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { LoggerModule } from 'nestjs-pino';
import type { AppConfig } from '../config/app-config';
import { pathOnly, REDACT_PATHS } from './redaction';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * One id per request, shared by Fastify (error bodies) and pino (log lines): the caller's
 * `x-request-id` when it is sane, else a new UUID. Stored on the raw request by whichever asks first.
 */
export function requestIdFor(req: IncomingMessage & { id?: unknown }): string {
  if (typeof req.id === 'string') return req.id;
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  req.id = id;
  return id;
}

@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<AppConfig, true>) => ({
        pinoHttp: {
          level: config.get('log', { infer: true }).level,
          genReqId: (req) => requestIdFor(req),
          redact: { paths: REDACT_PATHS, censor: '[redacted]' },
          // Probes and scrapes every few seconds would drown the useful lines.
          autoLogging: { ignore: (req) => /^\/(health|metrics)/.test(req.url ?? '') },
          serializers: {
            req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({
              id: req.id,
              method: req.method,
              url: pathOnly(req.url),
              remoteAddress: req.remoteAddress,
            }),
            res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
          },
          customProps: () => ({ service: 'deni', role: config.get('role', { infer: true }) }),
        },
      }),
    }),
  ],
})
export class LoggingModule {}
