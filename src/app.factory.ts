import type { IncomingMessage } from 'node:http';
import { Logger as NestLogger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import helmet from 'helmet';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { refuseCrossSiteWrites } from './common/cross-site.js';
import { DomainExceptionFilter } from './common/domain-exception.filter.js';
import { createValidationPipe } from './common/validation.js';
import { requireMpesaBaseUrl, type AppConfig } from './config/app-config.js';
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';
import { LogController, type FastifyBaseLogger } from 'fastify';
import { createRootLogger, lazyChildLogger, PinoNestLogger, requestIdFor } from './logging/logger.js';
import { loggableUrl } from './logging/redaction.js';
import { mountQueueDashboard } from './queues/queue-dashboard.js';
import { MetricsService } from './metrics/metrics.service.js';
import { DrainingService } from './health/draining.service.js';
import { registerSimulatorPage } from './simulator/simulator-page.js';

/** Probes and scrapes every few seconds would drown the useful lines. */
const QUIET_ROUTES = /^\/(health|metrics)(\/|$|\?)/;

/** In the worker role the HTTP server answers only these (probes and scrapes). */
const WORKER_ROUTES = /^\/(health|metrics)(\/|$|\?)/;

export function buildOpenApi(app: NestFastifyApplication) {
  const document = new DocumentBuilder()
    .setTitle('Deni')
    .setDescription(
      'Peer-to-peer M-PESA loans over USSD. Admin routes need the `X-API-Key` header; user routes a bearer token from `POST /api/auth/login`.',
    )
    .setVersion('0.1.0')
    .addApiKey({ type: 'apiKey', in: 'header', name: 'X-API-Key' }, 'admin-key')
    .addBearerAuth()
    .build();
  return SwaggerModule.createDocument(app, document);
}

/**
 * Builds the application exactly as it runs: used by main.ts and by the tests, so that what is
 * tested is what ships.
 */
export async function createApp(config: AppConfig, options: { logger?: Logger } = {}): Promise<NestFastifyApplication> {
  requireMpesaBaseUrl(config.mpesa);
  const logger = options.logger ?? createRootLogger(config);
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    // Logged once per request in onResponse below, without probe and scrape noise.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    bodyLimit: config.http.bodyLimit,
    trustProxy: config.http.trustProxy,
    // Keep-alive sockets must not hold a graceful shutdown open.
    forceCloseConnections: 'idle',
    // A request that still arrives while the server closes (on a connection opened before) is
    // answered, with Connection: close: PostgreSQL and Redis close only after the server has
    // drained, and a 503 would fail a request nothing else is going to retry.
    return503OnClosing: false,
    genReqId: (req: IncomingMessage) => requestIdFor(req),
    // The logger is our pino instance (loggerInstance above).
    childLoggerFactory: (parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) =>
      lazyChildLogger(parent as Logger, bindings, options),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    logger: new PinoNestLogger(logger),
  });
  // No enableShutdownHooks(): main.ts owns SIGTERM/SIGINT, so it can stop the local servers it
  // started after the application has drained (Nest's handler would re-raise the signal first).

  const fastify = app.getHttpAdapter().getInstance();
  // Security headers on every response, from one helmet middleware built here: the Fastify
  // plugin built a new one for every request, a few per cent of a USSD step's CPU.
  // Swagger UI and the bull-board dashboard load their own inline scripts and styles: no CSP.
  const securityHeaders = helmet({ contentSecurityPolicy: false });
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    securityHeaders(request.raw, reply.raw, (err?: unknown) => done(err instanceof Error ? err : undefined));
  });
  // Shutting down (main.ts): each connection closes after its current response, so keep-alive
  // clients and balancers send their next request to another instance (docs/deployment.md).
  const draining = app.get(DrainingService);
  fastify.addHook('onSend', async (request, reply, payload) => {
    if (draining.draining && request.raw.httpVersionMajor < 2) void reply.header('connection', 'close');
    return payload;
  });
  // Before any route's own hooks and guards (bull-board's key check included): a page on another
  // site must not be able to make a visitor's browser change anything here (docs/security.md).
  refuseCrossSiteWrites(fastify);
  const metrics = app.get(MetricsService);
  fastify.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.observeHttp(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    if (!QUIET_ROUTES.test(request.url)) {
      request.log.info(
        {
          method: request.method,
          url: loggableUrl(request.url, request.routeOptions.url),
          statusCode: reply.statusCode,
          ms: Math.round(reply.elapsedTime),
        },
        'request completed',
      );
    }
  });

  if (config.role === 'worker') {
    fastify.addHook('onRequest', async (request, reply) => {
      if (!WORKER_ROUTES.test(request.url)) {
        await reply
          .status(404)
          .send({ statusCode: 404, code: 'REQUEST.NOT_FOUND', message: 'This process runs workers only' });
      }
    });
  }

  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(new DomainExceptionFilter());

  SwaggerModule.setup('docs', app, buildOpenApi(app), { jsonDocumentUrl: 'docs-json' });
  if (config.role !== 'worker') await mountQueueDashboard(app, config.security.adminApiKey);
  // The phone simulator page (/simulator): a development tool, off in production unless SIMULATOR_ENABLED.
  if (config.simulator.enabled && config.role !== 'worker') await registerSimulatorPage(app);

  if (!config.security.adminApiKey) {
    new NestLogger('Security').warn(
      'ADMIN_API_KEY is not set: admin routes (/admin/queues, /api/ussd/sessions, …) answer only callers on this machine (loopback).',
    );
  }
  if (config.security.devSecrets.length) {
    new NestLogger('Security').warn(`Using development defaults for ${config.security.devSecrets.join(', ')}.`);
  }
  return app;
}
