import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardFastifyAdapter } from '@bull-board/fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import { ADMIN_KEY_HEADER, adminRefusal } from '../auth/admin-key.js';
import { JobsService } from './jobs.service.js';
import { ALL_QUEUES } from './queue-names.js';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/** Mounts the bull-board dashboard of every queue, behind the admin rule (adminRefusal). */
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
        const refusal = adminRefusal(adminApiKey, request.headers[ADMIN_KEY_HEADER], request.raw.socket?.remoteAddress);
        if (refusal) {
          await reply
            .status(refusal.status)
            .send({ statusCode: refusal.status, code: refusal.code, message: refusal.message });
        }
      });
      await scope.register(serverAdapter.registerPlugin() as never);
    },
    { prefix: QUEUE_DASHBOARD_PATH },
  );
}
