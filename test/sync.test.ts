import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { LoansService } from '../src/loans/loans.service.js';
import { UsersService } from '../src/users/users.service.js';
import { ADMIN_KEY, ApiClient } from './support/api-client.js';
import { eventually } from './support/eventually.js';
import { startTestApp, testConfig, uniquePhone } from './support/test-app.js';

interface Result {
  opId: string;
  status: string;
  code?: string;
  loan?: { id: string; status: string };
  serverState?: { id: string; status: string };
}
interface Pull {
  loans: { id: string; status: string; outstanding: number }[];
  transfers: { id: string; amount: number }[];
  wallet: { balance: number };
  cursor: string;
  hasMore: boolean;
}

describe('mobile sync API', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let db: DataSource;

  beforeAll(async () => {
    ({ app } = await startTestApp({ ADMIN_API_KEY: ADMIN_KEY, APP_ROLE: 'api', LOAN_MAX_PENDING: '100' }));
    api = new ApiClient(app);
    db = app.get(DataSource);
  });
  afterAll(() => app.close());

  const op = (type: string, payload: Record<string, unknown>, opId = randomUUID()) => ({
    opId,
    type,
    payload,
    clientTimestamp: new Date().toISOString(),
  });
  const push = async (token: string, operations: unknown[], deviceId = 'phone-a') =>
    api.call<{ results: Result[] }>('POST', '/api/sync/push', { token, body: { deviceId, operations } });
  const pull = async (token: string, since?: string, limit?: number) => {
    const qs = new URLSearchParams({ ...(since ? { since } : {}), ...(limit ? { limit: String(limit) } : {}) });
    const res = await api.call('GET', `/api/sync/pull?${qs.toString()}`, { token });
    expect(res.status).toBe(200);
    return res.body as Pull;
  };

  it('applies each operation on its own, and answers a batch pushed twice with the original results', async () => {
    const borrower = uniquePhone();
    const lender = uniquePhone();
    const bToken = await api.onboard(borrower);
    const batch = [
      op('loan.request', { lenderPhoneNumber: lender, amount: 3000, repaymentPerDeposit: 300 }),
      op('loan.request', { lenderPhoneNumber: lender, amount: 50, repaymentPerDeposit: 10 }), // too small
      op('loan.request', { lenderPhoneNumber: lender, amount: '3000' }), // malformed payload
      op('loan.cancel', { loanId: randomUUID() }), // no such loan
    ];
    const first = await push(bToken, batch);
    expect(first.status).toBe(200);
    expect(first.body.results.map((r) => [r.status, r.code])).toEqual([
      ['applied', undefined],
      ['rejected', 'LOAN.AMOUNT_OUT_OF_RANGE'],
      ['rejected', 'SYNC.BAD_PAYLOAD'],
      ['rejected', 'LOAN.NOT_FOUND'],
    ]);
    const again = await push(bToken, batch, 'phone-a');
    expect(again.body.results.map((r) => r.status)).toEqual(['duplicate', 'duplicate', 'duplicate', 'duplicate']);
    expect(again.body.results[0].loan?.id).toBe(first.body.results[0].loan?.id);
    expect(again.body.results[1].code).toBe('LOAN.AMOUNT_OUT_OF_RANGE');
    const [{ n }] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM loans l JOIN users u ON u.id = l.borrower_id WHERE u.phone_number = $1`,
      [borrower],
    );
    expect(n).toBe(1);
    // Another user cannot reuse someone's operation id.
    const stranger = await api.onboard(uniquePhone());
    expect((await push(stranger, [batch[0]])).body.results[0]).toMatchObject({
      status: 'rejected',
      code: 'SYNC.OP_ID_TAKEN',
    });
  });

  it('resolves operations from two devices on one loan: the first wins, the other gets the server state', async () => {
    const borrower = uniquePhone();
    const lender = uniquePhone();
    const bToken = await api.onboard(borrower);
    const lToken = await api.onboard(lender, '5930');
    await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: lender, amount: 5000, reference: `SYNC-${lender}` },
    });
    const created = await push(bToken, [
      op('loan.request', { lenderPhoneNumber: lender, amount: 2000, repaymentPerDeposit: 200 }),
    ]);
    const loanId = created.body.results[0].loan!.id;
    // Offline, the borrower cancels on one device while the lender approves on another.
    const [cancel, approve] = await Promise.all([
      push(bToken, [op('loan.cancel', { loanId })], 'borrower-phone'),
      push(lToken, [op('loan.approve', { loanId })], 'lender-phone'),
    ]);
    const outcomes = [cancel.body.results[0], approve.body.results[0]];
    expect(outcomes.map((r) => r.status).sort()).toEqual(['applied', 'conflict']);
    const winner = outcomes.find((r) => r.status === 'applied')!;
    const loser = outcomes.find((r) => r.status === 'conflict')!;
    expect(loser.code).toBe('LOAN.NOT_PENDING');
    expect(loser.serverState).toMatchObject({ id: loanId, status: winner.loan!.status });
    // A repayment larger than what is owed is a conflict too, with the loan as the server sees it.
    if (winner.loan!.status === 'ACTIVE') {
      const repay = await push(bToken, [op('loan.repay', { loanId, amount: 5000 })]);
      expect(repay.body.results[0]).toMatchObject({
        status: 'conflict',
        code: 'LOAN.REPAYMENT_EXCEEDS_OUTSTANDING',
        serverState: { outstanding: 2000 },
      });
      const ok = await push(bToken, [op('loan.repay', { loanId, amount: 500 })]);
      expect(ok.body.results[0]).toMatchObject({ status: 'applied', loan: { outstanding: 1500 } });
    } else {
      // The cancel won: nothing was lent, so a repayment is a conflict with the loan as it is.
      expect(winner.loan!.status).toBe('CANCELLED');
      const repay = await push(bToken, [op('loan.repay', { loanId, amount: 500 })]);
      expect(repay.body.results[0]).toMatchObject({
        status: 'conflict',
        code: 'LOAN.NOT_ACTIVE',
        serverState: { id: loanId, status: 'CANCELLED' },
      });
    }
  });

  it('refuses bad batches whole: no token, more than 100 operations, bad ids', async () => {
    const token = await api.onboard(uniquePhone());
    expect((await api.call('POST', '/api/sync/push', { body: { deviceId: 'x', operations: [] } })).status).toBe(401);
    const many = Array.from({ length: 101 }, () => op('loan.cancel', { loanId: randomUUID() }));
    expect((await push(token, many)).status).toBe(400);
    expect((await push(token, [{ ...op('loan.cancel', {}), opId: 'not-a-uuid' }])).status).toBe(400);
    expect((await push(token, [{ ...op('loan.cancel', {}), type: 'wallet.steal' }])).status).toBe(400);
    expect((await api.call('GET', '/api/sync/pull?since=bogus', { token })).status).toBe(422);
  });

  it('pulls what changed since the cursor, a page at a time', async () => {
    const me = uniquePhone();
    const token = await api.onboard(me);
    const user = await app.get(UsersService).findByPhone(me);
    for (let i = 0; i < 7; i += 1) {
      await app.get(LoansService).requestLoan({
        borrowerId: user!.id,
        lenderPhoneNumber: uniquePhone(),
        amount: 100 + i,
        repaymentPerDeposit: 10,
      });
    }
    await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: me, amount: 900, reference: `PULL-${me}` },
    });
    const seen = new Set<string>();
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await pull(token, cursor, 3);
      page.loans.forEach((l) => seen.add(l.id));
      page.transfers.forEach((t) => seen.add(t.id));
      expect(page.loans.length).toBeLessThanOrEqual(3);
      expect(page.wallet.balance).toBe(900);
      cursor = page.cursor;
      pages += 1;
      if (!page.hasMore) break;
    }
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(seen.size).toBe(8); // 7 loans and the deposit
    // From the last cursor there is nothing new to see.
    const after = await pull(token, cursor);
    expect([...after.loans, ...after.transfers].filter((x) => !seen.has(x.id))).toEqual([]);
  });

  it('never skips a change committed late, whatever the commit order of concurrent writers', async () => {
    const me = uniquePhone();
    const token = await api.onboard(me);
    const user = await app.get(UsersService).findByPhone(me);
    const loans = app.get(LoansService);
    const early = await loans.requestLoan({
      borrowerId: user!.id,
      lenderPhoneNumber: uniquePhone(),
      amount: 500,
      repaymentPerDeposit: 50,
    });
    const base = await pull(token);
    // A writer starts first (it gets the lower transaction id) and commits last.
    const slow = new Client({ connectionString: testConfig().database.url });
    await slow.connect();
    try {
      await slow.query('BEGIN');
      await slow.query(`UPDATE loans SET updated_at = now() WHERE id = $1`, [early.id]);
      const late = await loans.requestLoan({
        borrowerId: user!.id,
        lenderPhoneNumber: uniquePhone(),
        amount: 700,
        repaymentPerDeposit: 70,
      });
      const during = await pull(token, base.cursor);
      expect(during.loans.map((l) => l.id)).not.toContain(early.id); // not committed yet
      await slow.query('COMMIT');
      // Later pulls from that cursor bring both: the late commit is not skipped. (A pull returns
      // only what is older than every transaction still running on the server, so with other
      // tests writing beside this one it may take a pull or two.)
      const ids = new Set(during.loans.map((l) => l.id));
      let cursor = during.cursor;
      await eventually(
        async () => {
          const next = await pull(token, cursor);
          next.loans.forEach((l) => ids.add(l.id));
          cursor = next.cursor;
          return ids;
        },
        (seen) => seen.has(early.id) && seen.has(late.id),
        15_000,
      );
    } finally {
      await slow.end();
    }
  });

  it('pulls interleaved with concurrent writes miss nothing (property of the cursor)', async () => {
    const me = uniquePhone();
    const token = await api.onboard(me);
    const user = (await app.get(UsersService).findByPhone(me))!;
    const loans = app.get(LoansService);
    const seen = new Set<string>();
    let cursor: string | undefined;
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 25; i += 1) {
        await Promise.all([
          loans.requestLoan({
            borrowerId: user.id,
            lenderPhoneNumber: uniquePhone(),
            amount: 100 + i,
            repaymentPerDeposit: 10,
          }),
          loans.receiveDeposit({ userId: user.id, amount: 10 + i, reference: `INT-${me}-${i}` }),
        ]);
      }
      writing = false;
    })();
    while (writing) {
      const page = await pull(token, cursor, 5);
      page.loans.forEach((l) => seen.add(l.id));
      page.transfers.forEach((t) => seen.add(t.id));
      cursor = page.cursor;
    }
    await writer;
    const [{ n: loanCount }] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM loans WHERE borrower_id = $1`,
      [user.id],
    );
    const [{ n: transferCount }] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM transfers t JOIN accounts a ON a.id IN (t.debit_account_id, t.credit_account_id) WHERE a.user_id = $1`,
      [user.id],
    );
    expect(loanCount).toBe(25);
    // Pull on until everything committed has come (transactions of other tests running beside
    // this one can hold the horizon back for a moment; nothing may be missing in the end).
    await eventually(
      async () => {
        const page = await pull(token, cursor, 50);
        page.loans.forEach((l) => seen.add(l.id));
        page.transfers.forEach((t) => seen.add(t.id));
        cursor = page.cursor;
        return seen.size;
      },
      (n) => n >= loanCount + transferCount,
      15_000,
    );
    expect(seen.size).toBe(loanCount + transferCount);
  });
});
