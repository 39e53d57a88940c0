import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardFastifyAdapter } from '@bull-board/fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import { ADMIN_KEY_HEADER, adminKeyMatches } from '../auth/admin-key.js';
import { JobsService } from './jobs.service.js';
import { ALL_QUEUES } from './queue-names.js';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/** Mounts the bull-board dashboard of every queue, behind the admin key. */
export async function mountQueueDashboard(app: NestFastifyApplication, adminApiKey: string | undefined): Promise<void> {
  const jobs = app.get(JobsService);
  const serverAdapter = new BullBoardFastifyAdapter();
  serverAdapter.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: ALL_QUEUES.map((name) => new BullMQAdapter(jobs.queue(name))),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Deni queues' } },
  });
  const fastify = app.getHttpAdapter().getInstance();
  await fastify.register(
    async (scope: FastifyInstance) => {
      scope.addHook('onRequest', async (request, reply) => {
        if (!adminKeyMatches(adminApiKey, request.headers[ADMIN_KEY_HEADER])) {
          await reply.status(401).send({
            statusCode: 401,
            code: 'AUTH.ADMIN_KEY_REQUIRED',
            message: `A valid ${ADMIN_KEY_HEADER} header is required`,
          });
        }
      });
      await scope.register(serverAdapter.registerPlugin() as never);
    },
    { prefix: QUEUE_DASHBOARD_PATH },
  );
}
