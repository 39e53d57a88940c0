import { DataSource } from 'typeorm';
import { TransactionService } from '../src/database/transaction.service.js';
import { NotificationsService } from '../src/notifications/notifications.service.js';
import { SMS_PROVIDER, type SmsProvider } from '../src/notifications/sms-provider.js';
import { startTestApp, testConfig, uniquePhone } from './support/test-app.js';

describe('graceful shutdown', () => {
  it('lets a job that is running finish before the process closes', async () => {
    const { app } = await startTestApp({ APP_ROLE: 'all' });
    const provider = app.get<SmsProvider>(SMS_PROVIDER);
    const realSend = provider.send.bind(provider);
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    provider.send = async (to, body, id) => {
      entered();
      await new Promise((r) => setTimeout(r, 800)); // a slow SMS gateway
      return realSend(to, body, id);
    };
    const id = await app
      .get(TransactionService)
      .run((tx) =>
        app
          .get(NotificationsService)
          .notify(tx, { phoneNumber: uniquePhone(), language: 'en', template: 'pin.changed', params: {} }),
      );
    await inside;
    await app.close(); // returns only once the worker has finished its job

    const db = await new DataSource({ type: 'postgres', url: testConfig().database.url }).initialize();
    try {
      const [{ status }] = await db.query<{ status: string }[]>('SELECT status FROM notifications WHERE id = $1', [id]);
      expect(status).toBe('sent');
    } finally {
      await db.destroy();
    }
  });
});
