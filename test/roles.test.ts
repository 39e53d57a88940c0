import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { TransactionService } from '../src/database/transaction.service.js';
import { NotificationsService } from '../src/notifications/notifications.service.js';
import { ownRedisPrefix, startTestApp, uniquePhone } from './support/test-app.js';

describe('APP_ROLE', () => {
  it('api: serves HTTP and the dashboard but runs no workers; worker: sends, and serves only probes', async () => {
    const shared = ownRedisPrefix(); // both processes use the same queues
    const { app: api } = await startTestApp({ APP_ROLE: 'api', REDIS_KEY_PREFIX: shared });
    let worker: NestFastifyApplication | undefined;
    try {
      const id = await api
        .get(TransactionService)
        .run((tx) =>
          api
            .get(NotificationsService)
            .notify(tx, { phoneNumber: uniquePhone(), language: 'en', template: 'pin.changed', params: {} }),
        );
      const status = async () =>
        (
          await api.get(DataSource).query<{ status: string }[]>('SELECT status FROM notifications WHERE id = $1', [id])
        )[0].status;
      await new Promise((r) => setTimeout(r, 700));
      expect(await status()).toBe('pending'); // nobody consumes the queue in an api-only process

      ({ app: worker } = await startTestApp({ APP_ROLE: 'worker', REDIS_KEY_PREFIX: shared }));
      const deadline = Date.now() + 10_000;
      while ((await status()) !== 'sent' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await status()).toBe('sent');

      expect((await worker.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
      expect((await worker.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
      expect((await worker.inject({ method: 'GET', url: '/docs' })).statusCode).toBe(404);
      expect((await worker.inject({ method: 'GET', url: '/admin/queues' })).statusCode).toBe(404);
      expect((await api.inject({ method: 'GET', url: '/docs' })).statusCode).toBe(200);
    } finally {
      await api.close();
      await worker?.close();
    }
  });
});
