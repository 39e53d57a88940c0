import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { LoansService } from '../src/loans/loans.service.js';
import { UsersService } from '../src/users/users.service.js';
import { ADMIN_KEY, ApiClient } from './support/api-client.js';
import { ledgerViolations } from './support/invariants.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

/**
 * Gateways, phones and operators send again what they think was lost. Over HTTP, for each money
 * operation: the same key with the same content answers the original result and moves nothing;
 * the same key with other content is refused with 409 and the conflict code.
 */
describe('replays and conflicts over HTTP', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let db: DataSource;

  beforeAll(async () => {
    ({ app } = await startTestApp({ ADMIN_API_KEY: ADMIN_KEY, APP_ROLE: 'api' }));
    api = new ApiClient(app);
    db = app.get(DataSource);
  });
  afterAll(() => app.close());
  afterEach(async () => expect(await ledgerViolations(db)).toEqual([]));

  const transfersWithKey = async (like: string) =>
    (
      await db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM transfers WHERE idempotency_key LIKE $1`, [like])
    )[0].n;

  const walletOf = async (phone: string) =>
    Number(
      (
        await db.query<{ balance: string }[]>(
          `SELECT a.balance FROM accounts a JOIN users u ON u.id = a.user_id WHERE u.phone_number = $1`,
          [phone],
        )
      )[0]?.balance ?? 0,
    );

  it('a deposit: the same reference answers the original, another amount under it is a conflict', async () => {
    const phone = uniquePhone();
    const body = { phoneNumber: phone, amount: 1_500, reference: `R-${randomUUID()}` };
    const first = await api.call('POST', '/api/admin/deposits', { admin: true, body });
    expect(first.status).toBe(201);
    const again = await api.call('POST', '/api/admin/deposits', { admin: true, body });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ amount: 1_500, balance: 1_500, replayed: true });
    const other = await api.call('POST', '/api/admin/deposits', { admin: true, body: { ...body, amount: 1_600 } });
    expect(other).toMatchObject({ status: 409, body: { code: 'LEDGER.IDEMPOTENCY_CONFLICT' } });
    expect(await walletOf(phone)).toBe(1_500);
    expect(await transfersWithKey(`deposit:${body.reference}`)).toBe(1);
  });

  it('a loan request: the same Idempotency-Key is the same request, other terms under it a conflict', async () => {
    const [borrower, lender] = [uniquePhone(), uniquePhone()];
    const token = await api.onboard(borrower, '4821');
    await app.get(UsersService).findOrRegister(lender);
    const key = randomUUID();
    const ask = (amount: number) =>
      api.call<{ id: string }>('POST', '/api/loans', {
        token,
        headers: { 'idempotency-key': key },
        body: { lenderPhoneNumber: lender, amount, repaymentPerDeposit: 100, pin: '4821' },
      });
    const first = await ask(2_000);
    expect(first.status).toBe(201);
    const again = await ask(2_000);
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    expect(await ask(2_500)).toMatchObject({ status: 409 });
    const [{ n }] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM loans l JOIN users u ON u.id = l.borrower_id WHERE u.phone_number = $1`,
      [borrower],
    );
    expect(n).toBe(1);
  });

  it('an approval sent twice disburses once; the second is refused as no longer pending', async () => {
    const [borrower, lender] = [uniquePhone(), uniquePhone()];
    const users = app.get(UsersService);
    const b = await users.findOrRegister(borrower);
    const lenderToken = await api.onboard(lender, '5930');
    await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: lender, amount: 3_000, reference: `F-${randomUUID()}` },
    });
    const loan = await app
      .get(LoansService)
      .requestLoan({ borrowerId: b.id, lenderPhoneNumber: lender, amount: 3_000, repaymentPerDeposit: 300 });
    const approve = () =>
      api.call('POST', `/api/loans/${loan.id}/approve`, { token: lenderToken, body: { pin: '5930' } });
    expect((await approve()).status).toBe(200);
    expect(await approve()).toMatchObject({ status: 409, body: { code: 'LOAN.NOT_PENDING' } });
    expect(await walletOf(borrower)).toBe(3_000);
    expect(await walletOf(lender)).toBe(0);
    const [{ n }] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM transfers WHERE loan_id = $1 AND kind = 'loan_disbursement'`,
      [loan.id],
    );
    expect(n).toBe(1);
  });

  it('a repayment: the same Idempotency-Key answers the same loan and moves nothing; another amount is a conflict', async () => {
    const [borrower, lender] = [uniquePhone(), uniquePhone()];
    const borrowerToken = await api.onboard(borrower, '4821');
    const users = app.get(UsersService);
    const [b, l] = [await users.findOrRegister(borrower), await users.findOrRegister(lender)];
    const loans = app.get(LoansService);
    await loans.receiveDeposit({ userId: l.id, amount: 2_000, reference: `F-${randomUUID()}` });
    const loan = await loans.requestLoan({
      borrowerId: b.id,
      lenderPhoneNumber: lender,
      amount: 2_000,
      repaymentPerDeposit: 500,
    });
    await loans.approve(loan.id, l.id);
    const key = randomUUID();
    const repay = (amount: number, idempotencyKey: string | null = key) =>
      api.call<{ outstanding: number }>('POST', `/api/loans/${loan.id}/repay`, {
        token: borrowerToken,
        headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {},
        body: { amount, pin: '4821' },
      });

    const first = await repay(700);
    expect(first).toMatchObject({ status: 200, body: { outstanding: 1_300 } });
    const again = await repay(700);
    expect(again).toMatchObject({ status: 200, body: { outstanding: 1_300 } });
    expect(await repay(800)).toMatchObject({ status: 409, body: { code: 'LEDGER.IDEMPOTENCY_CONFLICT' } });
    // Without a key a client could not retry safely: refused before anything moves.
    expect(await repay(100, null)).toMatchObject({
      status: 422,
      body: { code: 'REQUEST.IDEMPOTENCY_KEY_REQUIRED' },
    });
    expect(await walletOf(borrower)).toBe(2_000 - 700);
    expect(await walletOf(lender)).toBe(700);
    expect(await transfersWithKey(`repayment:${loan.id}:%`)).toBe(1);
  });
});
