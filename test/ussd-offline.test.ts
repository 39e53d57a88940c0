import { ENTITIES } from '../src/entities.js';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/database/data-source.options.js';
import { DatabaseAvailability } from '../src/database/database-availability.js';
import { LoansService } from '../src/loans/loans.service.js';
import { JobsService } from '../src/queues/jobs.service.js';
import { QueueName } from '../src/queues/queue-names.js';
import { REDIS } from '../src/redis/redis.tokens.js';
import type { RedisClient } from '../src/redis/redis-connection.factory.js';
import { localDigits } from '../src/common/phone-number.js';
import { UsersService } from '../src/users/users.service.js';
import {
  OfflineQueueService,
  type OfflineItem,
  type OfflineItemState,
} from '../src/sync/offline-queue/offline-queue.service.js';
import { UssdSnapshotStore } from '../src/ussd/offline/snapshot.store.js';
import { WalletService } from '../src/wallet/wallet.service.js';
import { ApiClient } from './support/api-client.js';
import { eventually } from './support/eventually.js';
import { ledgerViolations } from './support/invariants.js';
import { freePort } from './support/processes.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { ownRedisPrefix, startTestApp, testConfig, uniquePhone } from './support/test-app.js';
import { BOTH_LANGUAGES, SCREENS_SW, local } from './support/ussd-clients.js';
import { AtPhone } from './support/ussd-phone.js';

/**
 * Offline mode, by fault injection: PostgreSQL is reached through a TCP proxy that the test cuts
 * and restores. Everything else is real: the USSD webhook, Redis, BullMQ, the worker.
 */
const PIN = '4821';
const base = testConfig();
const pgUrl = new URL(base.database.url);
const OFFLINE_SETTINGS = {
  // Every good step refreshes the snapshot, so the test knows what it holds.
  USSD_SNAPSHOT_REFRESH_SECONDS: '0',
  OFFLINE_RETRY_FIRST_DELAY_MS: '200',
  OFFLINE_RETRY_MAX_DELAY_MS: '2000',
};

const reference = (screen: string) => screen.match(/Ref ([0-9A-Z]{10})$/)?.[1];

/** The number a list screen gives the line that shows `other` (a local number). */
function lineFor(screen: string, other: string): string {
  const line = screen.split('\n').find((l) => l.includes(local(other)));
  if (!line) throw new Error(`${other} not on screen:\n${screen}`);
  return line.split('.')[0];
}

describe('USSD while PostgreSQL is unavailable', () => {
  let app: NestFastifyApplication;
  let proxy: TcpProxy;
  let db: DataSource;
  let api: ApiClient;

  beforeAll(async () => {
    proxy = await startTcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
    // Listening, for the (simulated) M-PESA result of a withdrawal made offline.
    const port = await freePort();
    ({ app } = await startTestApp({
      DATABASE_URL: proxy.url(base.database.url),
      MPESA_CALLBACK_BASE_URL: `http://127.0.0.1:${port}`,
      ...OFFLINE_SETTINGS,
    }));
    await app.listen(port, '127.0.0.1');
    api = new ApiClient(app);
    // The test's own view of the database, not through the proxy.
    db = await new DataSource(dataSourceOptions(base, ENTITIES)).initialize();
  });
  afterAll(async () => {
    proxy.restore();
    await app.close();
    await proxy.close();
    await db.destroy();
  });

  const availability = () => app.get(DatabaseAvailability);
  const offlineQueue = () => app.get(OfflineQueueService);

  async function user(phoneNumber: string, deposit = 0) {
    const users = app.get(UsersService);
    const u = await users.findOrRegister(phoneNumber);
    await users.createPin(u.id, PIN);
    if (deposit)
      await app.get(LoansService).receiveDeposit({ userId: u.id, amount: deposit, reference: `OFF-${phoneNumber}` });
    return u;
  }

  async function request(borrower: string, lender: string, amount: number, repayment = 100) {
    const u = await app.get(UsersService).findOrRegister(borrower);
    return app
      .get(LoansService)
      .requestLoan({ borrowerId: u.id, lenderPhoneNumber: lender, amount, repaymentPerDeposit: repayment });
  }

  async function cut() {
    proxy.cut();
    await eventually(
      () => availability().isOpen(),
      (open) => open,
      3_000,
    );
  }

  async function restore() {
    proxy.restore();
    await eventually(
      () => availability().isOpen(),
      (open) => !open,
      5_000,
    );
  }

  async function queueOf(phoneNumber: string) {
    const res = await api.call('GET', `/api/ussd/queue/${phoneNumber}`, { admin: true });
    expect(res.status).toBe(200);
    return res.body as {
      phoneNumber: string;
      totalItems: number;
      syncedItems: number;
      unsyncedItems: number;
      items: OfflineItemState[];
    };
  }

  it('answers every journey within 2 s from Redis, queues the writes once, and applies them exactly once after', async () => {
    const [a, b, d, e, g, stranger] = [
      uniquePhone(),
      uniquePhone(),
      uniquePhone(),
      uniquePhone(),
      uniquePhone(),
      uniquePhone(),
    ];
    const borrower = await user(a);
    const lender = await user(b, 63_000);
    await user(d);
    await user(e);
    // Online: an active loan A owes B, and three requests waiting for B.
    const active = await request(a, b, 3_000, 500);
    await app.get(LoansService).approve(active.id, lender.id);
    const first = await request(a, b, 30_000);
    const declined = await request(d, b, 2_000);
    const second = await request(e, b, 30_000);
    // Each dials once while all is well: that is what makes their snapshots.
    for (const phone of [a, b]) expect(await new AtPhone(app, phone).dial()).toMatch(/^CON M-PESA LOANS/);
    await app.get(UssdSnapshotStore).settle();

    await cut();
    const phone = (n: string) => new AtPhone(app, n);

    // Reads: the snapshot, with its time.
    const pa = phone(a);
    expect(await pa.dial()).toMatch(/^CON M-PESA LOANS/);
    const balance = await pa.reply('4');
    expect(balance).toMatch(/^CON As of \d\d:\d\d:\nBALANCE\nWallet: Ksh 3000\nYou owe: Ksh 3000/);
    const loansScreen = await phone(a).dial('2');
    expect(loansScreen).toContain('As of');
    expect(loansScreen).toContain(`From ${local(b)} Ksh 30000`);

    // A asks G for a loan: checked (amounts, PIN against the cached hash), queued, a reference.
    const ask = phone(a);
    await ask.dial('1');
    await ask.reply(localDigits(g));
    await ask.reply('1000');
    await ask.reply('100');
    await ask.reply('1');
    expect(await ask.reply('1357')).toMatch(/Wrong PIN/);
    const saved = await ask.reply(PIN);
    expect(saved).toMatch(
      /^END Saved\. It will be done when the service is back and you will get an SMS\. Ref [0-9A-Z]{10}$/,
    );
    // The gateway delivers the last request again: the same answer, nothing queued twice.
    expect(await ask.retry()).toBe(saved);

    // A repays 500 of the active loan.
    const repay = phone(a);
    await repay.dial('6');
    await repay.reply('1');
    await repay.reply('500');
    const repaid = await repay.reply(PIN);
    expect(reference(repaid)).toBeDefined();

    // B approves A's request, declines D's, and approves E's (each fits the snapshot's balance;
    // together they do not, which only applying can tell).
    const answer = async (borrowerPhone: string, choice: '1' | '2') => {
      const p = phone(b);
      const list = await p.dial('3');
      expect(list).toContain('As of');
      await p.reply(lineFor(list, borrowerPhone));
      await p.reply(choice);
      return p.reply(PIN);
    };
    const approvedFirst = await answer(a, '1');
    const declinedD = await answer(d, '2');
    const approvedSecond = await answer(e, '1');
    for (const screen of [approvedFirst, declinedD, approvedSecond]) expect(reference(screen)).toBeDefined();

    // What needs the database and has no snapshot: a number never seen (its language unknown:
    // both), a new PIN.
    expect(await phone(stranger).dial()).toBe(`END ${BOTH_LANGUAGES.busy}`);
    const changePin = phone(a);
    await changePin.dial('7');
    await changePin.reply('3');
    await changePin.reply(PIN);
    await changePin.reply('8264');
    expect(await changePin.reply('8264')).toBe('END This needs the service to be back. Please try again later.');

    const queuedA = await queueOf(a);
    expect(queuedA).toMatchObject({ phoneNumber: a, totalItems: 2, syncedItems: 0, unsyncedItems: 2 });
    expect(queuedA.items.map((i) => i.type)).toEqual(['LOAN_REQUEST', 'REPAYMENT']);
    expect(queuedA.items[0]).toMatchObject({
      id: reference(saved),
      data: { lenderPhoneNumber: g, amount: 1000, repaymentPerDeposit: 100 },
      synced: false,
      status: 'pending',
    });
    expect(JSON.stringify(queuedA.items)).not.toMatch(/4821|1357|pin/i);
    expect((await queueOf(b)).unsyncedItems).toBe(3);
    // Nothing reached the database while it was away.
    expect(
      await db.query(
        `SELECT 1 FROM loans WHERE borrower_id = $1 AND lender_id = (SELECT id FROM users WHERE phone_number = $2)`,
        [borrower.id, g],
      ),
    ).toHaveLength(0);

    await restore();
    // The worker drains the queue (promoted as soon as the database is back).
    for (const n of [a, b])
      await eventually(
        () => queueOf(n),
        (q) => q.unsyncedItems === 0,
        20_000,
      );

    const loansToG = await db.query<{ status: string }[]>(
      `SELECT l.status FROM loans l JOIN users u ON u.id = l.lender_id WHERE l.borrower_id = $1 AND u.phone_number = $2`,
      [borrower.id, g],
    );
    expect(loansToG).toEqual([{ status: 'PENDING' }]);
    const status = async (id: string) =>
      (
        await db.query<{ status: string; outstanding: number }[]>(
          `SELECT status, outstanding::int AS outstanding FROM loans WHERE id = $1`,
          [id],
        )
      )[0];
    expect(await status(first.id)).toEqual({ status: 'ACTIVE', outstanding: 30_000 });
    expect(await status(declined.id)).toMatchObject({ status: 'DECLINED' });
    expect(await status(active.id)).toEqual({ status: 'ACTIVE', outstanding: 2_500 });
    // 63,000 − 3,000 lent online left exactly enough for both approvals; then A's 500 came in.
    expect(await status(second.id)).toMatchObject({ status: 'ACTIVE' });
    expect(await app.get(WalletService).balance(lender.id)).toBe(500);

    const itemsB = (await queueOf(b)).items;
    expect(itemsB.map((i) => i.status)).toEqual(['applied', 'applied', 'applied']);
    // Each outcome is recorded once, and told once by SMS.
    const ops = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM sync_operations WHERE user_id = ANY($1) AND device_id = 'ussd'`,
      [[borrower.id, lender.id]],
    );
    expect(ops[0].n).toBe(5);
    type Sms = { phone_number: string; template: string; body: string };
    const sms = await db.query<Sms[]>(
      `SELECT phone_number, template, body FROM notifications WHERE template LIKE 'offline.%' AND phone_number = ANY($1) ORDER BY created_at`,
      [[a, b]],
    );
    const toA = sms.filter((s) => s.phone_number === a);
    expect(toA.map((s) => s.body)).toEqual([
      `Deni: your loan request (ref ${reference(saved)}) is done.`,
      `Deni: your repayment (ref ${reference(repaid)}) is done.`,
    ]);
    expect(sms.filter((s) => s.phone_number === b).map((s) => s.template)).toEqual([
      'offline.applied',
      'offline.applied',
      'offline.applied',
    ]);
    expect(await ledgerViolations(db)).toEqual([]);

    // Every job ends: one whose item another job applied first (in order) finds it closed, and
    // one that failed just as the database came back runs again after its (short) backoff.
    const queue = app.get(JobsService).queue(QueueName.UssdOffline);
    const counts = await eventually(
      () => queue.getJobCounts('waiting', 'delayed', 'active'),
      (c) => c.waiting + c.delayed + c.active === 0,
      10_000,
    );
    expect(counts).toEqual({ waiting: 0, delayed: 0, active: 0 });
  });

  it('tells a subscriber without a snapshot it is busy in their language when the identity cache knows it', async () => {
    const users = app.get(UsersService);
    const me = uniquePhone();
    // Known to the identity cache (identified, then Kiswahili chosen), but their snapshot is gone
    // (it expired: removed here), so nothing offline can say who they are for sure.
    await users.identify(me);
    await users.setLanguage((await users.findOrRegister(me)).id, 'sw');
    await app.get<RedisClient>(REDIS).del(`ussd:snapshot:${me}`);
    expect(await app.get(UssdSnapshotStore).get(me)).toBeNull();
    await cut();
    try {
      expect(await new AtPhone(app, me).dial()).toBe(`END ${SCREENS_SW.busy}`);
      expect(await new AtPhone(app, uniquePhone()).dial()).toBe(`END ${BOTH_LANGUAGES.busy}`);
    } finally {
      await restore();
    }
  });

  it('answers from Redis when PostgreSQL stops answering without closing anything (a partition)', async () => {
    const n = uniquePhone();
    const u = await user(n, 1_234);
    await app.get(UssdSnapshotStore).refresh(u.id);
    proxy.stall();
    try {
      const p = new AtPhone(app, n);
      // The first step waits USSD_DB_DEADLINE_MS on the database, then answers from Redis: a step
      // that waited on the stalled database would never answer (the test's timeout catches it).
      expect(await p.dial()).toMatch(/^CON M-PESA LOANS/);
      expect(await p.reply('4')).toMatch(/^CON As of \d\d:\d\d:\nBALANCE\nWallet: Ksh 1234/);
      await eventually(
        () => availability().isOpen(),
        (open) => open,
        3_000,
      );
    } finally {
      await restore();
    }
    expect(await new AtPhone(app, n).dial('4')).toMatch(/^CON BALANCE\nWallet: Ksh 1234/);
  });

  it('checks the PIN offline against the current one: an old PIN stops working the moment it is changed', async () => {
    const n = uniquePhone();
    const u = await user(n, 5_000);
    await app.get(UssdSnapshotStore).refresh(u.id);
    await app.get(UsersService).replacePin(u.id, '5930');
    await cut();
    try {
      const p = new AtPhone(app, n);
      await p.dial('7*2');
      await p.reply('100');
      expect(await p.reply(PIN)).toMatch(/^CON Wrong PIN\. 2 attempt\(s\) left\./);
      expect(reference(await p.reply('5930'))).toBeDefined();
    } finally {
      await restore();
    }
  });

  it('queues a withdrawal offline and pays it out by M-PESA once the database is back', async () => {
    const n = uniquePhone();
    const u = await user(n, 1_500);
    await app.get(UssdSnapshotStore).refresh(u.id);
    await cut();
    const p = new AtPhone(app, n);
    await p.dial('7*2');
    // Checked against the snapshot's balance first.
    expect(await p.reply('2000')).toMatch(/^CON Your wallet has Ksh 1500\./);
    await p.reply('600');
    const queued = await p.reply(PIN);
    const id = reference(queued)!;
    expect(id).toBeDefined();
    expect(await p.retry()).toBe(queued);
    await restore();

    const done = await eventually(
      () => offlineQueue().get(id),
      (s) => s?.status !== 'pending',
      20_000,
    );
    expect(done).toMatchObject({ status: 'applied', type: 'WITHDRAWAL', data: { amount: 600 } });
    const payments = () =>
      db.query<{ status: string }[]>(`SELECT status FROM mpesa_payments WHERE user_id = $1 AND kind = 'b2c'`, [u.id]);
    await eventually(payments, (rows) => rows.length === 1 && rows[0].status === 'succeeded', 15_000);
    expect(await app.get(WalletService).balance(u.id)).toBe(900);
    expect(await api.lastSms(n, 'offline.applied')).toBe(`Deni: your withdrawal (ref ${id}) is on its way to M-PESA.`);
    expect(await api.lastSms(n, 'mpesa.withdrawal_sent')).toMatch(/^Deni: Ksh 600 was sent to your M-PESA\./);
    expect(await ledgerViolations(db)).toEqual([]);
  });

  it('closes a write the ledger refuses as rejected, tells the user why, and does not retry it', async () => {
    const [b, x, y] = [uniquePhone(), uniquePhone(), uniquePhone()];
    const lender = await user(b, 10_000);
    await user(x);
    await user(y);
    const one = await request(x, b, 8_000);
    const two = await request(y, b, 8_000);
    expect(await new AtPhone(app, b).dial()).toMatch(/^CON/);
    await app.get(UssdSnapshotStore).settle();

    await cut();
    for (const borrowerPhone of [x, y]) {
      const p = new AtPhone(app, b);
      const list = await p.dial('3');
      await p.reply(lineFor(list, borrowerPhone));
      await p.reply('1');
      expect(reference(await p.reply(PIN))).toBeDefined();
    }
    await restore();
    const queue = await eventually(
      () => queueOf(b),
      (q) => q.unsyncedItems === 0,
      20_000,
    );
    expect(queue.items.map((i) => i.status)).toEqual(['applied', 'rejected']);
    const rejected = queue.items[1];
    expect(rejected.lastError).toMatch(/^WALLET\.INSUFFICIENT_FUNDS/);
    expect(rejected.attempts).toBe(1);
    expect(await api.lastSms(b, 'offline.rejected')).toBe(
      `Deni: your loan approval (ref ${rejected.id}) was not done: not enough money in your wallet.`,
    );
    const statuses = await db.query<{ id: string; status: string }[]>(
      `SELECT id, status FROM loans WHERE id = ANY($1)`,
      [[one.id, two.id]],
    );
    expect(statuses.map((r) => r.status).sort()).toEqual(['ACTIVE', 'PENDING']);
    expect(await app.get(WalletService).balance(lender.id)).toBe(2_000);
  });

  it('closes an item that could not be applied within OFFLINE_RETRY_HOURS as expired, and says so', async () => {
    const [n, lenderPhone] = [uniquePhone(), uniquePhone()];
    const u = await user(n);
    await app.get(UssdSnapshotStore).refresh(u.id);
    await cut();
    const p = new AtPhone(app, n);
    await p.dial(`1*${localDigits(lenderPhone)}*900*100`);
    await p.reply('1');
    const id = reference(await p.reply(PIN))!;
    // As if it had waited 25 hours for the database.
    const redis = app.get<RedisClient>(REDIS);
    const item = JSON.parse((await redis.hget(`offline:item:${id}`, 'item'))!) as OfflineItem;
    await redis.hset(`offline:item:${id}`, 'item', JSON.stringify({ ...item, queuedAt: Date.now() - 25 * 3_600_000 }));
    await restore();

    const closed = await eventually(
      () => offlineQueue().get(id),
      (s) => s?.status !== 'pending',
      20_000,
    );
    expect(closed).toMatchObject({
      status: 'expired',
      synced: true,
      lastError: 'OFFLINE.EXPIRED Not applied within 24 h',
    });
    expect(await api.lastSms(n, 'offline.expired')).toBe(
      `Deni: we could not complete your loan request (ref ${id}) in time. Nothing was done; please try again.`,
    );
    expect(await db.query(`SELECT 1 FROM loans WHERE borrower_id = $1`, [u.id])).toHaveLength(0);
    // Recorded as refused: nothing can apply it later.
    const [op] = await db.query<{ outcome: string; code: string | null }[]>(
      `SELECT outcome, result->>'code' AS code FROM sync_operations WHERE op_id = $1`,
      [item.opId],
    );
    expect(op).toEqual({ outcome: 'rejected', code: 'OFFLINE.EXPIRED' });
  });

  it('loses nothing when PostgreSQL goes away again in the middle of the drain', async () => {
    const lenderPhone = uniquePhone();
    await user(lenderPhone);
    const borrowers = Array.from({ length: 30 }, () => uniquePhone());
    const snapshots = app.get(UssdSnapshotStore);
    for (const n of borrowers) {
      const u = await user(n);
      await snapshots.refresh(u.id);
    }

    await cut();
    const refs: string[] = [];
    for (const n of borrowers) {
      const p = new AtPhone(app, n);
      await p.dial(`1*${localDigits(lenderPhone)}*500*100`);
      await p.reply('1');
      refs.push(reference(await p.reply(PIN))!);
    }
    expect(new Set(refs).size).toBe(30);

    proxy.restore();
    const states = () => Promise.all(refs.map((id) => offlineQueue().get(id)));
    // Cut again as soon as the first items land.
    await eventually(states, (s) => s.some((i) => i?.status === 'applied'), 20_000);
    proxy.cut();
    const atCut = await states();
    expect(atCut.filter((i) => i?.status === 'pending').length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1_500));
    await restore();
    const final = await eventually(states, (s) => s.every((i) => i?.status === 'applied'), 30_000);
    expect(final).toHaveLength(30);

    const rows = await db.query<{ borrower: string; n: number }[]>(
      `SELECT b.phone_number AS borrower, count(*)::int AS n FROM loans l
         JOIN users b ON b.id = l.borrower_id JOIN users le ON le.id = l.lender_id
        WHERE le.phone_number = $1 GROUP BY b.phone_number`,
      [lenderPhone],
    );
    expect(rows).toHaveLength(30);
    expect(rows.every((r) => r.n === 1)).toBe(true);
    const sms = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM notifications WHERE template = 'offline.applied' AND phone_number = ANY($1)`,
      [borrowers],
    );
    expect(sms[0].n).toBe(30);
  });
});

describe('POST /api/ussd/sync and a service started while PostgreSQL is down', () => {
  let proxy: TcpProxy;
  let app: NestFastifyApplication;
  let seeder: NestFastifyApplication;
  let db: DataSource;

  beforeAll(async () => {
    proxy = await startTcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
    db = await new DataSource(dataSourceOptions(base, ENTITIES)).initialize();
  });
  afterAll(async () => {
    proxy.restore();
    await app?.close();
    await seeder?.close();
    await proxy.close();
    await db.destroy();
  });

  it('starts without PostgreSQL, serves offline, recovers by itself, and applies a number’s items on request', async () => {
    const prefix = ownRedisPrefix();
    // A snapshot taken while all was well (the same Redis prefix as the api below).
    ({ app: seeder } = await startTestApp({ APP_ROLE: 'api', REDIS_KEY_PREFIX: prefix, ...OFFLINE_SETTINGS }));
    const [a, b] = [uniquePhone(), uniquePhone()];
    const users = seeder.get(UsersService);
    const borrower = await users.findOrRegister(a);
    await users.createPin(borrower.id, PIN);
    await seeder.get(UssdSnapshotStore).refresh(borrower.id);
    await seeder.close();

    proxy.cut();
    // No workers here: only the sync endpoint applies what is queued.
    ({ app } = await startTestApp({
      APP_ROLE: 'api',
      REDIS_KEY_PREFIX: prefix,
      DATABASE_URL: proxy.url(base.database.url),
      ...OFFLINE_SETTINGS,
    }));
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(503);
    const p = new AtPhone(app, a);
    await p.dial(`1*${localDigits(b)}*700*100`);
    await p.reply('1');
    const saved = await p.reply(PIN);
    const ref = reference(saved);
    expect(ref).toBeDefined();

    const api = new ApiClient(app);
    const during = await api.call('POST', '/api/ussd/sync', { admin: true, body: { phoneNumber: localDigits(a) } });
    expect(during.body).toMatchObject({
      success: false,
      synced: 0,
      total: 1,
      errors: [{ id: ref, error: 'database unavailable' }],
    });

    proxy.restore();
    await eventually(
      async () => (await app.inject({ method: 'GET', url: '/health/ready' })).statusCode,
      (s) => s === 200,
      10_000,
    );
    const run = await api.call('POST', '/api/ussd/sync', { admin: true, body: { phoneNumber: a } });
    expect(run).toEqual({ status: 200, body: { success: true, synced: 1, total: 1, errors: [] } });
    expect((await api.call('POST', '/api/ussd/sync', { admin: true, body: { phoneNumber: a } })).body).toEqual({
      success: true,
      synced: 0,
      total: 0,
      errors: [],
    });
    const queue = await api.call('GET', `/api/ussd/queue/${a}`, { admin: true });
    expect(queue.body).toMatchObject({
      totalItems: 1,
      syncedItems: 1,
      unsyncedItems: 0,
      items: [{ id: ref, status: 'applied', synced: true }],
    });
    const loans = await db.query<{ principal: number }[]>(
      `SELECT principal::int AS principal FROM loans WHERE borrower_id = $1`,
      [borrower.id],
    );
    expect(loans).toEqual([{ principal: 700 }]);
    // Once online, the same number is served from the database again.
    expect(await new AtPhone(app, a).dial()).toMatch(/^CON M-PESA LOANS/);
    expect((await api.call('GET', '/api/ussd/queue/not-a-number', { admin: true })).status).toBe(422);
  });
});
