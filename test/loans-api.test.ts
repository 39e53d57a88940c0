import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { ADMIN_KEY, ApiClient } from './support/api-client.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

describe('REST API end to end: onboard, deposit, request, approve, allocate', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let db: DataSource;

  beforeAll(async () => {
    ({ app } = await startTestApp({ ADMIN_API_KEY: ADMIN_KEY, APP_ROLE: 'api' }));
    api = new ApiClient(app);
    db = app.get(DataSource);
  });
  afterAll(() => app.close());

  it('walks a loan from request to repaid, with every SMS in the outbox', async () => {
    const borrower = uniquePhone();
    const lender = uniquePhone();
    const bToken = await api.onboard(borrower, '4821');
    const lToken = await api.onboard(lender, '5930');

    // The lender tops up 5000.
    const topUp = await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: lender, amount: 5000, reference: `REF-${lender}` },
    });
    expect(topUp.status).toBe(201);
    expect(topUp.body).toMatchObject({ amount: 5000, deducted: 0, balance: 5000, replayed: false });
    const again = await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: lender, amount: 5000, reference: `REF-${lender}` },
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ replayed: true, balance: 5000 });

    // The borrower asks for 3000, repaid 1000 per deposit.
    const request = await api.call('POST', '/api/loans', {
      token: bToken,
      body: { lenderPhoneNumber: `0${lender.slice(3)}`, amount: 3000, repaymentPerDeposit: 1000, pin: '4821' },
    });
    expect(request.status).toBe(201);
    expect(request.body).toMatchObject({
      status: 'PENDING',
      role: 'borrower',
      principal: 3000,
      outstanding: 3000,
      lenderPhoneNumber: lender,
    });
    const loanId = (request.body as { id: string }).id;
    // What the database filled in comes back with the new loan, as it is stored.
    const [stored] = await db.query<{ created_at: Date; expires_at: Date }[]>(
      `SELECT created_at, expires_at FROM loans WHERE id = $1`,
      [loanId],
    );
    expect(request.body).toMatchObject({
      createdAt: stored.created_at.toISOString(),
      expiresAt: stored.expires_at.toISOString(),
    });
    expect(await api.lastSms(lender, 'loan.requested')).toContain('Ksh 3000');

    // Only the lender can approve; strangers do not even see the loan.
    expect(
      (await api.call('POST', `/api/loans/${loanId}/approve`, { token: bToken, body: { pin: '4821' } })).body,
    ).toMatchObject({ code: 'LOAN.NOT_LENDER' });
    const stranger = await api.onboard(uniquePhone(), '1357');
    expect((await api.call('GET', `/api/loans/${loanId}`, { token: stranger })).status).toBe(404);
    expect(
      (await api.call('POST', `/api/loans/${loanId}/approve`, { token: lToken, body: { pin: '0000' } })).body,
    ).toMatchObject({ code: 'USER.PIN_INVALID' });

    const approved = await api.call('POST', `/api/loans/${loanId}/approve`, { token: lToken, body: { pin: '5930' } });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'ACTIVE', role: 'lender', outstanding: 3000 });
    expect(await api.lastSms(borrower, 'loan.approved')).toContain('Ksh 3000');
    expect((await api.call('GET', '/api/wallet', { token: bToken })).body).toMatchObject({
      balance: 3000,
      owing: 3000,
      owed: 0,
    });
    expect((await api.call('GET', '/api/wallet', { token: lToken })).body).toMatchObject({
      balance: 2000,
      owed: 3000,
      owing: 0,
    });
    // A second approval moves nothing.
    expect(
      (await api.call('POST', `/api/loans/${loanId}/approve`, { token: lToken, body: { pin: '5930' } })).body,
    ).toMatchObject({ code: 'LOAN.NOT_PENDING' });

    // The borrower receives 1500: 1000 goes to the lender.
    const dep = await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: borrower, amount: 1500, reference: `REF-${borrower}-1` },
    });
    expect(dep.body).toMatchObject({
      amount: 1500,
      deducted: 1000,
      balance: 3500,
      allocations: [{ loanId, amount: 1000 }],
    });
    expect(await api.lastSms(borrower, 'deposit.received')).toBe(
      'Deni: Ksh 1500 received. Ksh 1000 deducted for loan. New balance: Ksh 3500',
    );
    expect(await api.lastSms(lender, 'loan.repayment_received')).toContain('Still owed: Ksh 2000');

    // Repaying more than owed is refused; repaying the rest closes the loan.
    expect(
      (
        await api.call('POST', `/api/loans/${loanId}/repay`, {
          token: bToken,
          body: { amount: 2001, pin: '4821' },
          headers: { 'idempotency-key': 'repay-1' },
        })
      ).body,
    ).toMatchObject({
      code: 'LOAN.REPAYMENT_EXCEEDS_OUTSTANDING',
    });
    const repaid = await api.call('POST', `/api/loans/${loanId}/repay`, {
      token: bToken,
      body: { amount: 2000, pin: '4821' },
      headers: { 'idempotency-key': 'repay-2' },
    });
    expect(repaid.body).toMatchObject({ status: 'REPAID', outstanding: 0 });
    expect((repaid.body as { repayments: { amount: number }[] }).repayments.map((r) => r.amount)).toEqual([1000, 2000]);
    expect(await api.lastSms(borrower, 'loan.repaid_borrower')).toContain('fully repaid');
    expect(await api.lastSms(lender, 'loan.repaid_lender')).toContain('fully repaid');
    // A repayment needs an Idempotency-Key, so a retried request never pays twice.
    expect(
      (await api.call('POST', `/api/loans/${loanId}/repay`, { token: bToken, body: { amount: 1, pin: '4821' } })).body,
    ).toMatchObject({
      code: 'REQUEST.IDEMPOTENCY_KEY_REQUIRED',
    });

    // A later deposit is no longer allocated.
    const later = await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: borrower, amount: 700, reference: `REF-${borrower}-2` },
    });
    expect(later.body).toMatchObject({ deducted: 0, balance: 2200 });
    expect((await api.call('GET', '/api/wallet', { token: lToken })).body).toMatchObject({ balance: 5000, owed: 0 });

    const history = await api.call('GET', '/api/wallet/transactions?limit=2', { token: bToken });
    expect((history.body as { items: { amount: number }[] }).items.map((i) => i.amount)).toEqual([700, -2000]);
    const next = (history.body as { nextCursor: string }).nextCursor;
    const older = await api.call('GET', `/api/wallet/transactions?limit=10&before=${next}`, { token: bToken });
    expect((older.body as { items: { kind: string; amount: number }[] }).items.map((i) => [i.kind, i.amount])).toEqual([
      ['loan_repayment', -1000],
      ['deposit', 1500],
      ['loan_disbursement', 3000],
    ]);

    const [{ n }] = await db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM transfers WHERE loan_id = $1`, [
      loanId,
    ]);
    expect(n).toBe(3); // disbursement + two repayments
  });

  it('refuses bad input with a 4xx and a stable code, and moves no money', async () => {
    const token = await api.onboard(uniquePhone());
    const lender = uniquePhone();
    const bad = async (body: Record<string, unknown>) =>
      api.call('POST', '/api/loans', {
        token,
        body: { lenderPhoneNumber: lender, amount: 1000, repaymentPerDeposit: 100, pin: '4821', ...body },
      });
    for (const amount of [12.5, -5, 0, 2 ** 53 + 2, '1000', null]) {
      const res = await bad({ amount });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({
        code: 'REQUEST.VALIDATION_FAILED',
        errors: expect.arrayContaining([expect.objectContaining({ field: 'amount' })]) as unknown,
      });
    }
    expect((await bad({ amount: 99 })).body).toMatchObject({ code: 'LOAN.AMOUNT_OUT_OF_RANGE' });
    expect((await bad({ amount: 250_001 })).body).toMatchObject({ code: 'LOAN.AMOUNT_OUT_OF_RANGE' });
    expect((await bad({ repaymentPerDeposit: 9 })).body).toMatchObject({ code: 'LOAN.REPAYMENT_OUT_OF_RANGE' });
    expect((await bad({ repaymentPerDeposit: 1001 })).body).toMatchObject({ code: 'LOAN.REPAYMENT_OUT_OF_RANGE' });
    expect((await bad({ lenderPhoneNumber: '0202222222' })).body).toMatchObject({ code: 'PHONE.BAD_FORMAT' });
    expect((await bad({ extra: 1 })).status).toBe(400);
    expect((await api.call('GET', '/api/loans/not-a-uuid', { token })).body).toMatchObject({ code: 'LOAN.NOT_FOUND' });
    expect((await api.call('GET', '/api/loans/00000000-0000-4000-8000-000000000000', { token })).status).toBe(404);
    expect((await api.call('GET', '/api/wallet')).status).toBe(401);
    expect((await api.call('GET', '/api/wallet', { token: `${token}x` })).status).toBe(401);
    expect(
      (await api.call('POST', '/api/admin/deposits', { body: { phoneNumber: lender, amount: 1, reference: 'x' } }))
        .status,
    ).toBe(401);
    const [{ n }] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM transfers t JOIN accounts a ON a.id = t.credit_account_id JOIN users u ON u.id = a.user_id WHERE u.phone_number = $1`,
      [lender],
    );
    expect(n).toBe(0);
  });

  it('refuses an approval the lender cannot fund, moving nothing, and lets it succeed after a top-up', async () => {
    const borrower = uniquePhone();
    const lender = uniquePhone();
    const bToken = await api.onboard(borrower);
    const lToken = await api.onboard(lender, '5930');
    await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: lender, amount: 400, reference: `SHORT-${lender}` },
    });
    const loan = await api.call('POST', '/api/loans', {
      token: bToken,
      body: { lenderPhoneNumber: lender, amount: 1000, repaymentPerDeposit: 100, pin: '4821' },
    });
    const id = (loan.body as { id: string }).id;
    const short = await api.call('POST', `/api/loans/${id}/approve`, { token: lToken, body: { pin: '5930' } });
    expect(short.status).toBe(409);
    expect(short.body).toMatchObject({ code: 'WALLET.INSUFFICIENT_FUNDS', details: { balance: 400, needed: 1000 } });
    expect((await api.call('GET', `/api/loans/${id}`, { token: bToken })).body).toMatchObject({ status: 'PENDING' });
    expect((await api.call('GET', '/api/wallet', { token: lToken })).body).toMatchObject({ balance: 400 });
    await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: lender, amount: 600, reference: `TOPUP-${lender}` },
    });
    expect(
      (await api.call('POST', `/api/loans/${id}/approve`, { token: lToken, body: { pin: '5930' } })).body,
    ).toMatchObject({ status: 'ACTIVE' });
    expect((await api.call('GET', '/api/wallet', { token: lToken })).body).toMatchObject({ balance: 0, owed: 1000 });
    // A stranger can neither see nor answer it; the borrower cannot decline it.
    const stranger = await api.onboard(uniquePhone(), '1357');
    expect((await api.call('POST', `/api/loans/${id}/decline`, { token: stranger })).status).toBe(404);
    expect((await api.call('POST', `/api/loans/${id}/decline`, { token: bToken })).body).toMatchObject({
      code: 'LOAN.NOT_LENDER',
    });
  });

  it('enforces the pending limit and refuses duplicates and self-loans', async () => {
    const me = uniquePhone();
    const token = await api.onboard(me);
    const ask = (lender: string, amount = 1000) =>
      api.call('POST', '/api/loans', {
        token,
        body: { lenderPhoneNumber: lender, amount, repaymentPerDeposit: 100, pin: '4821' },
      });
    expect((await ask(me)).body).toMatchObject({ code: 'LOAN.SELF_LOAN' });
    const lender = uniquePhone();
    expect((await ask(lender)).status).toBe(201);
    expect((await ask(lender)).body).toMatchObject({ code: 'LOAN.DUPLICATE_REQUEST' });
    for (let i = 1; i < 5; i += 1) expect((await ask(uniquePhone())).status).toBe(201);
    expect((await ask(uniquePhone())).body).toMatchObject({ code: 'LOAN.TOO_MANY_PENDING' });
    // Cancelling one frees a slot; a cancelled request cannot be approved.
    const list = await api.call('GET', '/api/loans?role=borrower&status=PENDING', { token });
    expect((list.body as { total: number }).total).toBe(5);
    const id = (list.body as { items: { id: string }[] }).items[0].id;
    expect((await api.call('POST', `/api/loans/${id}/cancel`, { token })).body).toMatchObject({ status: 'CANCELLED' });
    expect((await api.call('POST', `/api/loans/${id}/cancel`, { token })).body).toMatchObject({
      code: 'LOAN.NOT_PENDING',
    });
    expect((await ask(uniquePhone())).status).toBe(201);
  });

  it('onboarding: OTP tries are limited, codes are single-use, and requests are rate-limited', async () => {
    const phone = uniquePhone();
    expect((await api.call('POST', '/api/auth/otp', { body: { phoneNumber: phone } })).status).toBe(202);
    const code = (await api.lastSms(phone, 'auth.otp'))!.match(/\d{6}/)![0];
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 3; i += 1) {
      expect(
        (await api.call('POST', '/api/auth/pin', { body: { phoneNumber: phone, otp: wrong, pin: '4821' } })).body,
      ).toMatchObject({ code: 'OTP.INVALID' });
    }
    // The right code no longer works: the tries are used up.
    expect(
      (await api.call('POST', '/api/auth/pin', { body: { phoneNumber: phone, otp: code, pin: '4821' } })).body,
    ).toMatchObject({ code: 'OTP.INVALID' });
    expect((await api.call('POST', '/api/auth/otp', { body: { phoneNumber: phone } })).status).toBe(202);
    expect((await api.call('POST', '/api/auth/otp', { body: { phoneNumber: phone } })).status).toBe(202);
    const limited = await api.call('POST', '/api/auth/otp', { body: { phoneNumber: phone } });
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ code: 'REQUEST.RATE_LIMITED' });
    const fresh = (await api.lastSms(phone, 'auth.otp'))!.match(/\d{6}/)![0];
    expect(
      (await api.call('POST', '/api/auth/pin', { body: { phoneNumber: phone, otp: fresh, pin: '1234' } })).body,
    ).toMatchObject({ code: 'USER.PIN_TRIVIAL' });
  });
});
