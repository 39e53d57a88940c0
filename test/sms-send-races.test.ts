import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { NotificationsService } from '../src/notifications/notifications.service.js';
import {
  startAfricasTalkingSmsSimulator,
  type AfricasTalkingSmsSimulator,
} from '../src/simulators/africastalking/africastalking-sms.simulator.js';
import { eventually } from './support/eventually.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

/**
 * Two live workers (two applications on one database, as two instances would be) racing for the
 * same outbox rows: every message reaches Africa's Talking's simulator once (docs/queues.md).
 */
describe('two live workers racing for the same messages', () => {
  const API_KEY = 'at-race-key-5d0c7e1b93a24f68';
  let sim: AfricasTalkingSmsSimulator;
  let apps: NestFastifyApplication[] = [];
  let db: DataSource;

  beforeAll(async () => {
    sim = await startAfricasTalkingSmsSimulator({ username: 'sandbox', apiKey: API_KEY });
    const env = {
      APP_ROLE: 'all',
      SMS_PROVIDER: 'africastalking',
      AT_BASE_URL: sim.url,
      AT_USERNAME: 'sandbox',
      AT_API_KEY: API_KEY,
      AT_TIMEOUT_MS: '2000',
      // The scheduled relays stay out of the way: these tests run the relays themselves.
      NOTIFICATIONS_RELAY_INTERVAL_MS: '3600000',
      NOTIFICATIONS_RELAY_AGE_MS: '3600000',
    };
    // Each with queues of its own: only the outbox row is shared, as the claim must hold alone.
    apps = [(await startTestApp(env)).app, (await startTestApp(env)).app];
    db = apps[0].get(DataSource);
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await sim?.close();
  });

  const services = () => apps.map((a) => a.get(NotificationsService));
  const statuses = (ids: string[]) =>
    db
      .query<{ status: string }[]>(`SELECT status FROM notifications WHERE id = ANY($1)`, [ids])
      .then((rows) => rows.map((r) => r.status));

  it('sends a message once when both workers try to send it at the same moment', async () => {
    const phones = Array.from({ length: 12 }, () => uniquePhone());
    // Pending rows of the outbox, written as notify() writes them but handed to no queue.
    const ids = await Promise.all(
      phones.map(async (phone) => {
        const [{ id }] = await db.query<{ id: string }[]>(
          `INSERT INTO notifications (phone_number, template, language, body) VALUES ($1, 'deposit.received', 'en', $2) RETURNING id`,
          [phone, `Deni: Ksh 500 received. New balance: Ksh ${phone.slice(-3)}`],
        );
        return id;
      }),
    );
    const outcomes = await Promise.all(ids.flatMap((id) => services().map((s) => s.send(id, false))));
    expect(outcomes.filter((o) => o === 'sent')).toHaveLength(ids.length);
    expect(outcomes.filter((o) => o === 'skipped')).toHaveLength(ids.length);
    expect(await statuses(ids)).toEqual(ids.map(() => 'sent'));
    for (const phone of phones) expect(sim.delivered(phone)).toHaveLength(1);
  });

  it('takes each row a stopped worker left up once when both relays run at the same moment', async () => {
    const phones = Array.from({ length: 12 }, () => uniquePhone());
    // One-time codes whose worker died after the request left: in doubt, and sent again once.
    const ids = await Promise.all(
      phones.map(async (phone) => {
        const [{ id }] = await db.query<{ id: string }[]>(
          `INSERT INTO notifications (phone_number, template, language, body, status, attempts, lease_until, request_sent_at)
           VALUES ($1, 'auth.otp', 'en', 'Deni: your code is 123456.', 'sending', 1, now() - interval '1 second', now() - interval '20 seconds')
           RETURNING id`,
          [phone],
        );
        return id;
      }),
    );
    const relayBoth = async () => (await Promise.all(services().map((s) => s.relay()))).reduce((a, b) => a + b, 0);
    // The database holds no other row a relay could take. Every row is handed over exactly once
    // across the relays' runs: a run may leave a row to the next run (as the scheduled relay
    // would, seconds later), never hand one twice.
    let handed = await relayBoth();
    for (let round = 0; round < 3 && handed < ids.length; round += 1) handed += await relayBoth();
    expect(handed).toBe(ids.length);
    await eventually(
      () => statuses(ids),
      (s) => s.every((status) => status === 'sent'),
      15_000,
    );
    // Late jobs (the stopped worker's, had it had any) would find nothing left to send.
    await Promise.all(ids.flatMap((id) => services().map((s) => s.send(id, false))));
    for (const phone of phones) expect(sim.delivered(phone)).toHaveLength(1);
  });
});
