import { ENTITIES } from '../src/entities.js';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../src/database/data-source.options.js';
import { DatabaseAvailability } from '../src/database/database-availability.js';
import { LoansService } from '../src/loans/loans.service.js';
import { MpesaPayment } from '../src/mpesa/mpesa-payment.entity.js';
import { MpesaCallbackUrls } from '../src/mpesa/mpesa-callback-urls.js';
import type { DarajaSimulator } from '../src/simulators/daraja/daraja-simulator.js';
import { REDIS } from '../src/redis/redis.tokens.js';
import type { RedisClient } from '../src/redis/redis-connection.factory.js';
import { localDigits } from '../src/common/phone-number.js';
import { local } from './support/ussd-clients.js';
import { UsersService } from '../src/users/users.service.js';
import { UssdSnapshotStore } from '../src/ussd/offline/snapshot.store.js';
import { ApiClient } from './support/api-client.js';
import { eventually } from './support/eventually.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { startTestApp, testConfig, uniquePhone } from './support/test-app.js';
import { AtPhone } from './support/ussd-phone.js';

/**
 * The offline snapshots are up to date the moment a write is answered, whichever channel made the
 * write (USSD, REST, the sync API, an operator, the expiry job): PostgreSQL is cut right after the
 * reply, with no waiting in between, and USSD must still show the write and check against it.
 *
 * Snapshots taken in the background after reads are debounced for an hour here, so nothing but the
 * write itself can have brought a snapshot up to date.
 */
const PIN = '4821';
const base = testConfig();
const pgUrl = new URL(base.database.url);

const reference = (screen: string) => screen.match(/Ref ([0-9A-Z]{10})$/)?.[1];
const AS_OF = /^CON As of \d\d:\d\d:\n/;

describe('USSD offline right after a write', () => {
  let app: NestFastifyApplication;
  let daraja: DarajaSimulator;
  let proxy: TcpProxy;
  let db: DataSource;
  let api: ApiClient;

  beforeAll(async () => {
    proxy = await startTcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
    ({ app, daraja } = await startTestApp({
      APP_ROLE: 'api',
      DATABASE_URL: proxy.url(base.database.url),
      USSD_SNAPSHOT_REFRESH_SECONDS: '3600',
    }));
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

  /** Back online for the next test (the breaker closes once a probe gets through). */
  async function restore() {
    proxy.restore();
    await eventually(
      () => Promise.resolve(app.get(DatabaseAvailability).isOpen()),
      (open) => !open,
      5_000,
    );
  }

  /**
   * A lender with Ksh 5,000 who lent 4,000 (400 per deposit) to a borrower, both having dialled
   * while all was well (snapshots from before the test's write).
   */
  async function lentAndDialled() {
    const [borrower, lender] = [uniquePhone(), uniquePhone()];
    const users = app.get(UsersService);
    const loans = app.get(LoansService);
    const b = await users.findOrRegister(borrower);
    const l = await users.findOrRegister(lender);
    await loans.receiveDeposit({ userId: l.id, amount: 5_000, reference: `SNAP-${randomUUID()}` });
    const loan = await loans.requestLoan({
      borrowerId: b.id,
      lenderPhoneNumber: lender,
      amount: 4_000,
      repaymentPerDeposit: 400,
    });
    await loans.approve(loan.id, l.id);
    await dialledBefore(borrower, lender);
    return { borrower, lender };
  }

  /** A number onboarded over REST (PIN and token) with Ksh 2,000 credited by an operator. */
  async function onboardedWith2000() {
    const n = uniquePhone();
    const token = await api.onboard(n, PIN);
    const credited = await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: n, amount: 2_000, reference: `SNAP-${randomUUID()}` },
    });
    expect(credited.status).toBe(201);
    return { n, token };
  }

  /** Dials while all is well (a snapshot as of before the write), and waits for that snapshot. */
  async function dialledBefore(...phones: string[]) {
    for (const n of phones) expect(await new AtPhone(app, n).dial()).toMatch(/^CON M-PESA LOANS/);
    await app.get(UssdSnapshotStore).settle();
  }

  it('a new number requests a loan over USSD, creating its PIN; cut at once, both sides see it offline', async () => {
    const [borrower, lender, other] = [uniquePhone(), uniquePhone(), uniquePhone()];
    await dialledBefore(lender);

    const p = new AtPhone(app, borrower);
    await p.dial('1');
    await p.reply(localDigits(lender));
    await p.reply('1000');
    await p.reply('100');
    expect(await p.reply('1')).toMatch(/^CON Create a 4-digit PIN:/);
    await p.reply(PIN);
    const sent = await p.reply(PIN);
    proxy.cut();
    expect(sent).toMatch(/^CON SUCCESS\nLoan request sent to /);

    try {
      // The request is in the borrower's offline My Loans, still pending.
      const mine = new AtPhone(app, borrower);
      const list = await mine.dial('2');
      expect(list).toMatch(AS_OF);
      expect(list).toContain(`1. From ${local(lender)} Ksh 1000`);
      expect(await mine.reply('1')).toMatch(/\nStatus: Pending(\n|$)/);

      // A PIN-checked write from the new number: its PIN (created a moment ago) is checked offline.
      const ask = new AtPhone(app, borrower);
      await ask.dial(`1*${localDigits(other)}*500*100`);
      expect(await ask.reply('1')).toMatch(/^CON Enter your 4-digit PIN:/);
      expect(await ask.reply('9468')).toMatch(/^CON Wrong PIN\. 2 attempt\(s\) left\./);
      expect(reference(await ask.reply(PIN))).toBeDefined();

      // The lender's offline approval list has it.
      const approvals = await new AtPhone(app, lender).dial('3');
      expect(approvals).toMatch(AS_OF);
      expect(approvals).toContain(`1. ${local(borrower)} Ksh 1000`);
    } finally {
      await restore();
    }
  });

  it('a loan requested and approved over REST is seen offline over USSD by both parties', async () => {
    const [borrower, lender] = [uniquePhone(), uniquePhone()];
    const borrowerToken = await api.onboard(borrower, PIN);
    const lenderToken = await api.onboard(lender, PIN);
    const credited = await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: lender, amount: 10_000, reference: `SNAP-${randomUUID()}` },
    });
    expect(credited.status).toBe(201);
    await dialledBefore(borrower, lender);

    const requested = await api.call('POST', '/api/loans', {
      token: borrowerToken,
      body: { lenderPhoneNumber: lender, amount: 3_000, repaymentPerDeposit: 300, pin: PIN },
    });
    expect(requested.status).toBe(201);
    const waiting = await api.call('POST', '/api/loans', {
      token: borrowerToken,
      body: { lenderPhoneNumber: lender, amount: 1_500, repaymentPerDeposit: 150, pin: PIN },
    });
    expect(waiting.status).toBe(201);
    const approved = await api.call('POST', `/api/loans/${(requested.body as { id: string }).id}/approve`, {
      token: lenderToken,
      body: { pin: PIN },
    });
    proxy.cut();
    expect(approved.status).toBe(200);

    try {
      expect(await new AtPhone(app, borrower).dial('4')).toMatch(
        /^CON As of \d\d:\d\d:\nBALANCE\nWallet: Ksh 3000\nYou owe: Ksh 3000\nOwed to you: Ksh 0/,
      );
      const mine = await new AtPhone(app, borrower).dial('2');
      expect(mine).toContain(`1. From ${local(lender)} Ksh 1500`);
      expect(mine).toContain(`2. From ${local(lender)} Ksh 3000`);

      expect(await new AtPhone(app, lender).dial('4')).toMatch(
        /^CON As of \d\d:\d\d:\nBALANCE\nWallet: Ksh 7000\nYou owe: Ksh 0\nOwed to you: Ksh 3000/,
      );
      // Only the request still waiting; the approved one has left the list.
      const approvals = await new AtPhone(app, lender).dial('3');
      expect(approvals).toMatch(AS_OF);
      expect(approvals).toContain(`1. ${local(borrower)} Ksh 1500`);
      expect(approvals).not.toContain('Ksh 3000');
    } finally {
      await restore();
    }
  });

  it('a loan requested through the sync API is seen offline over USSD by both parties', async () => {
    const [borrower, lender] = [uniquePhone(), uniquePhone()];
    const token = await api.onboard(borrower, PIN);
    await app.get(UsersService).findOrRegister(lender);
    await dialledBefore(borrower, lender);

    const pushed = await api.call('POST', '/api/sync/push', {
      token,
      body: {
        deviceId: 'phone-a',
        operations: [
          {
            opId: randomUUID(),
            type: 'loan.request',
            payload: { lenderPhoneNumber: lender, amount: 2_500, repaymentPerDeposit: 250 },
            clientTimestamp: new Date().toISOString(),
          },
        ],
      },
    });
    proxy.cut();
    expect(pushed.status).toBe(200);
    expect((pushed.body as { results: { status: string }[] }).results.map((r) => r.status)).toEqual(['applied']);

    try {
      expect(await new AtPhone(app, borrower).dial('2')).toContain(`1. From ${local(lender)} Ksh 2500`);
      expect(await new AtPhone(app, lender).dial('3')).toContain(`1. ${local(borrower)} Ksh 2500`);
    } finally {
      await restore();
    }
  });

  it('a deposit an operator credits, and what it repays, is seen offline by the borrower and the lender', async () => {
    const { borrower, lender } = await lentAndDialled();

    const credited = await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: borrower, amount: 1_000, reference: `SNAP-${randomUUID()}` },
    });
    proxy.cut();
    expect(credited.status).toBe(201);

    try {
      // 4,000 borrowed + 1,000 deposited − 400 repaid.
      expect(await new AtPhone(app, borrower).dial('4')).toMatch(
        /^CON As of \d\d:\d\d:\nBALANCE\nWallet: Ksh 4600\nYou owe: Ksh 3600\nOwed to you: Ksh 0/,
      );
      // 5,000 − 4,000 lent + 400 repaid.
      expect(await new AtPhone(app, lender).dial('4')).toMatch(
        /^CON As of \d\d:\d\d:\nBALANCE\nWallet: Ksh 1400\nYou owe: Ksh 0\nOwed to you: Ksh 3600/,
      );
    } finally {
      await restore();
    }
  });

  it('a deposit delivered again brings the lender it repaid up to date too, if its first delivery did not', async () => {
    const { borrower, lender } = await lentAndDialled();
    // The lender's snapshot from before the deposit, put back after it: as if the first delivery
    // had been cut short (a crash) between its commit and the snapshots.
    const redis = app.get<RedisClient>(REDIS);
    const before = await redis.get(`ussd:snapshot:${lender}`);
    const deposit = { phoneNumber: borrower, amount: 1_000, reference: `SNAP-${randomUUID()}` };
    expect((await api.call('POST', '/api/admin/deposits', { admin: true, body: deposit })).status).toBe(201);
    await redis.set(`ussd:snapshot:${lender}`, before!);

    const again = await api.call('POST', '/api/admin/deposits', { admin: true, body: deposit });
    proxy.cut();
    // The reference was credited already: 200, nothing moved (201 would be a second credit).
    expect(again.status).toBe(200);
    try {
      // 5,000 − 4,000 lent + 400 repaid, and 3,600 still owed.
      expect(await new AtPhone(app, lender).dial('4')).toMatch(
        /^CON As of \d\d:\d\d:\nBALANCE\nWallet: Ksh 1400\nYou owe: Ksh 0\nOwed to you: Ksh 3600/,
      );
    } finally {
      await restore();
    }
  });

  it('money held for a withdrawal made over REST has left the offline balance at once', async () => {
    const { n, token } = await onboardedWith2000();
    await dialledBefore(n);

    const withdrawn = await api.call('POST', '/api/wallet/withdrawals', { token, body: { amount: 500, pin: PIN } });
    proxy.cut();
    expect(withdrawn.status).toBe(202);

    try {
      expect(await new AtPhone(app, n).dial('4')).toMatch(/^CON As of \d\d:\d\d:\nBALANCE\nWallet: Ksh 1500\n/);
      // An offline withdrawal is checked against what is left.
      const p = new AtPhone(app, n);
      await p.dial('7*2');
      expect(await p.reply('1800')).toMatch(/^CON Your wallet has Ksh 1500\./);
    } finally {
      await restore();
    }
  });

  it('a withdrawal M-PESA did not pay, given back by its B2C result, is back in the offline balance at once', async () => {
    const { n, token } = await onboardedWith2000();
    // The simulator sends no result of its own: the test posts Daraja's failure sample for it.
    daraja.setOutcome(n, 'no_callback');
    const withdrawn = await api.call('POST', '/api/wallet/withdrawals', { token, body: { amount: 500, pin: PIN } });
    expect(withdrawn.status).toBe(202);
    const w = await db.getRepository(MpesaPayment).findOneByOrFail({ id: (withdrawn.body as { id: string }).id });
    expect(w.status).toBe('pending');
    await dialledBefore(n);

    const failure = JSON.parse(readFileSync('test/fixtures/providers/daraja-b2c-result-failure.json', 'utf8')) as {
      Result: Record<string, unknown>;
    };
    Object.assign(failure.Result, {
      OriginatorConversationID: w.originatorConversationId,
      ConversationID: w.conversationId,
    });
    const result = await app.inject({
      method: 'POST',
      url: new URL(app.get(MpesaCallbackUrls).callbackUrl('b2c/result')).pathname,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(failure),
    });
    proxy.cut();
    expect(result.statusCode).toBe(200);

    try {
      expect(await new AtPhone(app, n).dial('4')).toMatch(/^CON As of \d\d:\d\d:\nBALANCE\nWallet: Ksh 2000\n/);
    } finally {
      await restore();
    }
    expect(await db.getRepository(MpesaPayment).findOneByOrFail({ id: w.id })).toMatchObject({ status: 'failed' });
  });

  it('a request the expiry job closes is seen closed offline by both parties', async () => {
    const [borrower, lender] = [uniquePhone(), uniquePhone()];
    const b = await app.get(UsersService).findOrRegister(borrower);
    const loan = await app
      .get(LoansService)
      .requestLoan({ borrowerId: b.id, lenderPhoneNumber: lender, amount: 800, repaymentPerDeposit: 100 });
    await dialledBefore(borrower, lender);

    await db.query(`UPDATE loans SET expires_at = now() - interval '1 minute' WHERE id = $1`, [loan.id]);
    // What the expiry job runs.
    expect(await app.get(LoansService).expire(loan.id)).toBe(true);
    proxy.cut();

    try {
      const mine = new AtPhone(app, borrower);
      expect(await mine.dial('2')).toContain(`1. From ${local(lender)} Ksh 800`);
      expect(await mine.reply('1')).toMatch(/\nStatus: Expired(\n|$)/);
      expect(await new AtPhone(app, lender).dial('3')).toMatch(/^CON As of \d\d:\d\d:\nAPPROVE LOAN\nNo requests/);
    } finally {
      await restore();
    }
  });

  it('a language changed over USSD is the language of the offline screens at once', async () => {
    const n = uniquePhone();
    const users = app.get(UsersService);
    await users.createPin((await users.findOrRegister(n)).id, PIN);
    await dialledBefore(n);

    const p = new AtPhone(app, n);
    await p.dial('7*4');
    const done = await p.reply('2');
    proxy.cut();
    expect(done).toBe('END Lugha sasa ni Kiswahili.');

    try {
      expect(await new AtPhone(app, n).dial()).toMatch(/^CON MIKOPO YA M-PESA\n1\. Omba Mkopo/);
      expect(await new AtPhone(app, n).dial('4')).toMatch(/^CON Kufikia \d\d:\d\d:\nSALIO\nPochi: Ksh 0/);
    } finally {
      await restore();
    }
  });

  it('never puts back a snapshot older than the one stored', async () => {
    // Refreshes in the background and after writes overlap, on one instance or several: one that
    // read before a write may finish after the one that read after it.
    const n = uniquePhone();
    const u = await app.get(UsersService).findOrRegister(n);
    const store = app.get(UssdSnapshotStore);
    await store.refresh(u.id);
    const taken = (await store.get(n))!;
    expect(taken.balance).toBe(0);
    const redis = app.get<RedisClient>(REDIS);
    const key = `ussd:snapshot:${n}`;

    // Stored by a refresh that started after this next one (and saw a deposit): kept.
    const newer = { ...taken, seq: taken.seq + 1_000, balance: 700 };
    await redis.set(key, JSON.stringify(newer));
    await store.refresh(u.id);
    expect(await store.get(n)).toEqual(newer);

    // Stored by one that started before, on an instance whose clock runs a minute ahead: replaced
    // all the same (the order is the subscriber's sequence in Redis, not the instances' clocks).
    await redis.set(key, JSON.stringify({ ...taken, seq: taken.seq, takenAt: Date.now() + 60_000, balance: 700 }));
    await store.refresh(u.id);
    expect(await store.get(n)).toMatchObject({ balance: 0, user: { id: u.id, phoneNumber: n, hasPin: false } });
  });
});
