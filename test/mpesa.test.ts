import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { LoansService } from '../src/loans/loans.service.js';
import { nairobiTimestamp } from '../src/mpesa/daraja.parsers.js';
import { MpesaPayment } from '../src/mpesa/mpesa-payment.entity.js';
import { WithdrawalService } from '../src/mpesa/withdrawal.service.js';
import { TopUpService } from '../src/mpesa/top-up.service.js';
import type { DarajaSimulator, SimulatorOutcome } from '../src/simulators/daraja/daraja-simulator.js';
import { localDigits } from '../src/common/phone-number.js';
import { UsersService } from '../src/users/users.service.js';
import { WalletService } from '../src/wallet/wallet.service.js';
import { ADMIN_KEY, ApiClient } from './support/api-client.js';
import { eventually } from './support/eventually.js';
import { ledgerViolations } from './support/invariants.js';
import { freePort } from './support/processes.js';
import { startTestApp, uniquePhone } from './support/test-app.js';
import { AtPhone } from './support/ussd-phone.js';

/**
 * M-PESA end to end over real HTTP: the real Daraja client talks to the local Daraja simulator
 * (the default when MPESA_BASE_URL is unset), which calls back the app on its own port.
 */
const PIN = '4821';
const SECRET = 'test-callback-secret-0123456789';
const STATUS_QUERY = '/mpesa/transactionstatus/v1/query';
const B2C_REQUEST = '/mpesa/b2c/v3/paymentrequest';

/** The SMS of a withdrawal given back by the last resort, its outcome unknown. */
const unconfirmedSms = (amount: number) =>
  `Deni: M-PESA did not confirm your Ksh ${amount} withdrawal. The money is back in your Deni wallet. If M-PESA did pay you, we will correct it. Help: customer care.`;

/** The simulator's record of the requests with this body field, e.g. every B2C send of one withdrawal. */
function requestsWith(sim: DarajaSimulator, path: string, field: string, value: string) {
  return sim.requests.filter((r) => r.path === path && (r.body as Record<string, unknown>)[field] === value);
}

/** A published Daraja sample, parsed (each call a fresh copy to change). */
function published<T>(name: string): T {
  return JSON.parse(readFileSync(`test/fixtures/providers/${name}`, 'utf8')) as T;
}

interface StatusResultBody {
  Result: {
    ResultCode: number | string;
    ResultParameters?: { ResultParameter: { Key: string; Value?: unknown }[] };
  } & Record<string, unknown>;
}

/**
 * Safaricom's Transaction Status sample, made to speak of one withdrawal: our OriginatorConversationID
 * (`id`, or Daraja's own as in the sample when `id` is null) and the ConversationID of Daraja's B2C
 * acknowledgement (left out when not given: the sample's is another transaction's).
 */
function statusResult(
  about: { id: string | null; amount: number; conversationId?: string | null },
  transactionStatus: string,
  receipt = `TK${randomBytes(4).toString('hex').toUpperCase()}`,
): StatusResultBody {
  const body = published<StatusResultBody>('daraja-transaction-status-result.json');
  const values: Record<string, unknown> = {
    ...(about.id === null ? {} : { OriginatorConversationID: about.id }),
    ...(about.conversationId ? { ConversationID: about.conversationId } : {}),
    Amount: String(about.amount),
    TransactionStatus: transactionStatus,
    ReceiptNo: receipt,
  };
  body.Result.ResultParameters!.ResultParameter = body.Result.ResultParameters!.ResultParameter.filter(
    (p) => p.Key !== 'ConversationID' || about.conversationId,
  ).map((p) => (p.Key in values ? { Key: p.Key, Value: values[p.Key] } : p));
  return body;
}

/**
 * What each block reads of its app's database, and the ledger's invariants
 * (docs/money.md#invariants) checked after every one of its tests, whatever the test did.
 */
function ledgerChecks(app: () => NestFastifyApplication) {
  const db = () => app().get(DataSource);
  afterEach(async () => {
    expect(await ledgerViolations(db())).toEqual([]);
  });
  return {
    payment: (id: string) => db().getRepository(MpesaPayment).findOneByOrFail({ id }),
    balance: (userId: string) => app().get(WalletService).balance(userId),
    smsCount: async (phoneNumber: string, template: string) =>
      (
        await db().query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM notifications WHERE phone_number = $1 AND template = $2`,
          [phoneNumber, template],
        )
      )[0].n,
    /** The ledger's outcome of a withdrawal: how many (one at most) and which. */
    outcomes: async (withdrawalId: string) =>
      (
        await db().query<{ kind: string }[]>(`SELECT kind FROM transfers WHERE idempotency_key = $1`, [
          `withdrawal:${withdrawalId}:outcome`,
        ])
      ).map((t) => t.kind),
  };
}

describe('M-PESA top-ups, paybill and withdrawals against the Daraja simulator', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let sim: DarajaSimulator;
  let db: DataSource;
  let callbackBase: string;

  beforeAll(async () => {
    const port = await freePort();
    callbackBase = `http://127.0.0.1:${port}`;
    ({ app, daraja: sim } = await startTestApp({
      MPESA_CALLBACK_BASE_URL: callbackBase,
      MPESA_CALLBACK_SECRET: SECRET,
      MPESA_RECONCILE_AFTER_MS: '1000',
      ADMIN_API_KEY: ADMIN_KEY,
    }));
    await app.listen(port, '127.0.0.1');
    api = new ApiClient(app);
    db = app.get(DataSource);
  });
  afterAll(() => app?.close());

  async function user(phoneNumber = uniquePhone(), deposit = 0) {
    const users = app.get(UsersService);
    const u = await users.findOrRegister(phoneNumber);
    await users.createPin(u.id, PIN);
    if (deposit)
      await app.get(LoansService).receiveDeposit({ userId: u.id, amount: deposit, reference: `MP-${phoneNumber}` });
    return { ...u, token: await api.login(phoneNumber, PIN) };
  }

  const { payment, balance, smsCount } = ledgerChecks(() => app);
  const settled = (id: string) =>
    eventually(
      () => payment(id),
      (p) => p.status === 'succeeded' || p.status === 'failed',
      15_000,
    );
  const transfersWithKey = async (key: string) =>
    (await db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM transfers WHERE idempotency_key = $1`, [key]))[0]
      .n;
  const postCallback = (path: string, body: string) =>
    fetch(`${callbackBase}/api/mpesa/callbacks/${SECRET}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });

  async function topUp(token: string, amount: number) {
    const res = await api.call('POST', '/api/wallet/deposits', { token, body: { amount } });
    expect(res.status).toBe(202);
    return res.body as { id: string; status: string; checkoutRequestId: string };
  }

  it('tops up by USSD, credits once on the callback, and pays down two loans through allocation', async () => {
    const borrower = await user();
    const [l1, l2] = [await user(uniquePhone(), 5_000), await user(uniquePhone(), 5_000)];
    const loans = app.get(LoansService);
    for (const [lender, per] of [
      [l1, 300],
      [l2, 200],
    ] as const) {
      const loan = await loans.requestLoan({
        borrowerId: borrower.id,
        lenderPhoneNumber: lender.phoneNumber,
        amount: 2_000,
        repaymentPerDeposit: per,
      });
      await loans.approve(loan.id, lender.id);
    }
    expect(await balance(borrower.id)).toBe(4_000);

    const phone = new AtPhone(app, borrower.phoneNumber);
    await phone.dial('7');
    expect(await phone.reply('1')).toBe('CON TOP UP\nEnter amount (Ksh):\n0. Back 00. Home');
    expect(await phone.reply('1000')).toBe(
      'END M-PESA will ask for your PIN on this phone to add Ksh 1000. You will get an SMS when it is in your wallet.',
    );
    const [row] = await db.getRepository(MpesaPayment).find({ where: { userId: borrower.id, kind: 'stk' } });
    expect(row).toMatchObject({ status: 'pending', amount: 1_000, phoneNumber: borrower.phoneNumber });
    expect(row.checkoutRequestId).toMatch(/^ws_CO_/);

    const done = await settled(row.id);
    expect(done).toMatchObject({ status: 'succeeded', resultCode: 0 });
    expect(done.receipt).toMatch(/^[A-Z0-9]{10}$/);
    // 1000 in, 300 + 200 straight to the lenders.
    expect(await balance(borrower.id)).toBe(4_500);
    expect(await balance(l1.id)).toBe(3_300);
    expect(await balance(l2.id)).toBe(3_200);
    expect(await api.lastSms(borrower.phoneNumber, 'deposit.received')).toBe(
      'Deni: Ksh 1000 received. Ksh 500 deducted for loan. New balance: Ksh 4500',
    );
    expect(await ledgerViolations(db)).toEqual([]);
  });

  it.each<[SimulatorOutcome, number, string]>([
    ['cancelled', 1032, 'you cancelled the request'],
    ['insufficient_funds', 1, 'not enough money in your M-PESA'],
    ['wrong_pin', 2001, 'the M-PESA PIN was wrong'],
    ['unreachable', 1037, 'your phone did not answer'],
  ])('records a %s top-up as failed, moves nothing, and tells the user', async (outcome, code, reason) => {
    const u = await user(uniquePhone(), 100);
    sim.setOutcome(u.phoneNumber, outcome);
    const started = await topUp(u.token, 250);
    const done = await settled(started.id);
    expect(done).toMatchObject({ status: 'failed', resultCode: code });
    expect(await balance(u.id)).toBe(100);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.topup_failed')).toBe(
      `Deni: your top-up of Ksh 250 did not go through: ${reason}. Nothing was taken.`,
    );
  });

  it('applies the same callback once, however often and however concurrently it comes', async () => {
    const u = await user();
    sim.setOutcome(u.phoneNumber, 'duplicate_callback');
    const started = await topUp(u.token, 700);
    await settled(started.id);
    const callback = await eventually(
      () => sim.callbacks.filter((c) => c.kind === 'stk' && c.text.includes(started.checkoutRequestId)),
      (sent) => sent.length === 2,
      5_000,
    );
    // Twice from the simulator, then three more: two at once, one after.
    const post = () =>
      fetch(`${callbackBase}/api/mpesa/callbacks/${SECRET}/stk`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: callback[0].text,
      });
    const answers = await Promise.all([post(), post()]);
    answers.push(await post());
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(await balance(u.id)).toBe(700);
    const credits = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM transfers WHERE idempotency_key = $1`,
      [`deposit:stk:${started.checkoutRequestId}`],
    );
    expect(credits[0].n).toBe(1);
    expect(await ledgerViolations(db)).toEqual([]);
  });

  /**
   * Safaricom's published STK success callback, made to speak of one push: its ids, and the claims
   * given (by default the request's amount and phone and a fresh receipt), the exact sample otherwise.
   */
  function stkSuccessCallback(
    row: MpesaPayment,
    claims: { amount?: number; receipt?: string; phoneNumber?: string } = {},
  ): { text: string; receipt: string } {
    const body = published<{
      Body: {
        stkCallback: Record<string, unknown> & { CallbackMetadata: { Item: { Name: string; Value: unknown }[] } };
      };
    }>('daraja-stk-callback-success.json');
    const callback = body.Body.stkCallback;
    callback.MerchantRequestID = row.merchantRequestId;
    callback.CheckoutRequestID = row.checkoutRequestId;
    const receipt = claims.receipt ?? `TK${randomBytes(4).toString('hex').toUpperCase()}`;
    const values: Record<string, unknown> = {
      Amount: claims.amount ?? row.amount,
      MpesaReceiptNumber: receipt,
      TransactionDate: Number(nairobiTimestamp()),
      PhoneNumber: Number(claims.phoneNumber ?? row.phoneNumber),
    };
    callback.CallbackMetadata.Item = callback.CallbackMetadata.Item.map((item) => ({
      Name: item.Name,
      Value: values[item.Name],
    }));
    return { text: JSON.stringify(body), receipt };
  }

  /** A push held by the simulator, then decided: paid with its callback lost, or not paid (1037), no callback. */
  async function decidedTopUp(token: string, phoneNumber: string, amount: number, paid: boolean) {
    sim.setOutcome(phoneNumber, 'hold');
    const started = await topUp(token, amount);
    sim.resolveStkPush(started.checkoutRequestId, paid ? 'lost_callback' : 'no_callback');
    return payment(started.id);
  }

  /** deni_mpesa_callback_mismatch_total for one kind, from /metrics. */
  async function mismatches(kind: string): Promise<number> {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const line = new RegExp(`^deni_mpesa_callback_mismatch_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text);
    return line ? Number(line[1]) : 0;
  }

  it('applies the first STK callback once when three copies arrive together while the payment is still pending', async () => {
    const u = await user();
    // M-PESA took the money; its callback is lost: the three copies below are the first callbacks.
    const row = await decidedTopUp(u.token, u.phoneNumber, 640, true);
    const { text, receipt } = stkSuccessCallback(row);

    const answers = await Promise.all([
      postCallback('stk', text),
      postCallback('stk', text),
      postCallback('stk', text),
    ]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(
      await eventually(
        () => payment(row.id),
        (p) => p.receipt !== null,
        15_000,
      ),
    ).toMatchObject({
      status: 'succeeded',
      resultCode: 0,
      receipt,
      needsReview: false,
      callbackMismatches: [],
    });
    expect(await balance(u.id)).toBe(640);
    expect(await transfersWithKey(`deposit:stk:${row.checkoutRequestId}`)).toBe(1);
    expect(await smsCount(u.phoneNumber, 'deposit.received')).toBe(1);
    expect(await smsCount(u.phoneNumber, 'mpesa.topup_failed')).toBe(0);
  });

  it('credits a forged success callback (Amount 99999, receipt FORGED0001) for a held Ksh 300 top-up nothing until the STK query says paid, then exactly 300, flagged; the genuine callback after it is recorded, not ignored', async () => {
    const u = await user();
    sim.setOutcome(u.phoneNumber, 'hold');
    const started = await topUp(u.token, 300);
    const row = await payment(started.id);
    const amountMismatchesBefore = await mismatches('amount');
    const receiptMismatchesBefore = await mismatches('receipt');

    const forged = stkSuccessCallback(row, { amount: 99_999, receipt: 'FORGED0001' });
    expect((await postCallback('stk', forged.text)).status).toBe(200);
    // M-PESA has not said it was paid (STK query: still being processed): nothing moves.
    expect(await balance(u.id)).toBe(0);
    const flagged = await payment(row.id);
    expect(flagged).toMatchObject({ status: 'pending', needsReview: true, receipt: null });
    expect(flagged.callbackMismatches).toEqual([
      expect.objectContaining({ kinds: ['amount'], resultCode: 0, amount: 99_999, receipt: 'FORGED0001' }),
    ]);
    expect(await mismatches('amount')).toBe(amountMismatchesBefore + 1);
    // Posted again, the same forgery is the same record.
    expect((await postCallback('stk', forged.text)).status).toBe(200);
    expect((await payment(row.id)).callbackMismatches).toHaveLength(1);

    // The customer pays: the simulator answers the query as paid and sends the genuine callback.
    sim.resolveStkPush(row.checkoutRequestId!, 'success');
    const genuine = await eventually(
      () => sim.callbacks.filter((c) => c.kind === 'stk' && c.text.includes(row.checkoutRequestId!)),
      (sent) => sent.length === 1 && sent[0].status !== undefined,
      15_000,
    );
    const genuineReceipt = /"MpesaReceiptNumber","Value":"([A-Z0-9]+)"/.exec(genuine[0].text)![1];
    const done = await eventually(
      () => payment(row.id),
      (p) => p.status === 'succeeded' && p.receipt !== null,
      15_000,
    );
    // Exactly the 300 Deni asked for, once; the receipt is the genuine one, never FORGED0001.
    expect(await balance(u.id)).toBe(300);
    expect(await transfersWithKey(`deposit:stk:${row.checkoutRequestId}`)).toBe(1);
    expect(done).toMatchObject({ amount: 300, receipt: genuineReceipt, needsReview: true });
    expect(done.callbackMismatches).toEqual([
      expect.objectContaining({ kinds: ['amount'], receipt: 'FORGED0001' }),
      expect.objectContaining({ kinds: ['receipt'], receipt: genuineReceipt, amount: 300 }),
    ]);
    expect(await mismatches('receipt')).toBe(receiptMismatchesBefore + 1);
    // On the operators' review list.
    const list = await api.call('GET', '/api/admin/mpesa/payments?needsReview=true', { admin: true });
    expect((list.body as { id: string }[]).map((p) => p.id)).toContain(row.id);
  });

  it('credits the requested amount, not the claimed one, when a callback with a wrong amount comes for a push M-PESA did take, and keeps its receipt out', async () => {
    const u = await user();
    const row = await decidedTopUp(u.token, u.phoneNumber, 300, true);
    const forged = stkSuccessCallback(row, { amount: 99_999, receipt: 'FORGED0001' });
    expect((await postCallback('stk', forged.text)).status).toBe(200);
    const done = await eventually(
      () => payment(row.id),
      (p) => p.status === 'succeeded',
      15_000,
    );
    expect(await balance(u.id)).toBe(300);
    expect(done).toMatchObject({ receipt: null, needsReview: true });
    expect(done.callbackMismatches).toEqual([
      expect.objectContaining({ kinds: ['amount'], receipt: 'FORGED0001', amount: 99_999 }),
    ]);
  });

  it('records and flags a second callback with another receipt, or another outcome, after a credited one, and credits nothing more', async () => {
    const u = await user();
    const row = await decidedTopUp(u.token, u.phoneNumber, 450, true);
    const first = stkSuccessCallback(row);
    expect((await postCallback('stk', first.text)).status).toBe(200);
    const credited = await eventually(
      () => payment(row.id),
      (p) => p.receipt !== null,
      15_000,
    );
    expect(credited).toMatchObject({ status: 'succeeded', receipt: first.receipt, needsReview: false });

    const second = stkSuccessCallback(row);
    expect((await postCallback('stk', second.text)).status).toBe(200);
    const cancelled = published<{ Body: { stkCallback: Record<string, unknown> } }>(
      'daraja-stk-callback-cancelled.json',
    );
    cancelled.Body.stkCallback.MerchantRequestID = row.merchantRequestId;
    cancelled.Body.stkCallback.CheckoutRequestID = row.checkoutRequestId;
    expect((await postCallback('stk', JSON.stringify(cancelled))).status).toBe(200);

    const after = await payment(row.id);
    expect(after).toMatchObject({ status: 'succeeded', receipt: first.receipt, needsReview: true });
    expect(after.callbackMismatches).toEqual([
      expect.objectContaining({ kinds: ['receipt'], receipt: second.receipt, resultCode: 0 }),
      expect.objectContaining({ kinds: ['outcome'], receipt: null, resultCode: 1032 }),
    ]);
    expect(await balance(u.id)).toBe(450);
    expect(await transfersWithKey(`deposit:stk:${row.checkoutRequestId}`)).toBe(1);
    expect(await smsCount(u.phoneNumber, 'deposit.received')).toBe(1);
    expect(await smsCount(u.phoneNumber, 'mpesa.topup_failed')).toBe(0);
  });

  it('credits nothing for a success callback when the STK query says M-PESA did not take the money, and flags it', async () => {
    const u = await user(uniquePhone(), 20);
    const row = await decidedTopUp(u.token, u.phoneNumber, 500, false);
    const before = await mismatches('not_confirmed');
    const claimed = stkSuccessCallback(row);
    expect((await postCallback('stk', claimed.text)).status).toBe(200);
    const done = await eventually(
      () => payment(row.id),
      (p) => p.status === 'failed' && p.needsReview,
      15_000,
    );
    expect(done).toMatchObject({ resultCode: 1037, receipt: null });
    expect(done.callbackMismatches).toEqual([
      expect.objectContaining({ kinds: ['not_confirmed'], receipt: claimed.receipt }),
    ]);
    expect(await balance(u.id)).toBe(20);
    expect(await transfersWithKey(`deposit:stk:${row.checkoutRequestId}`)).toBe(0);
    expect(await mismatches('not_confirmed')).toBe(before + 1);
  });

  it("flags a success callback naming another phone than the push's, and keeps its receipt out", async () => {
    const u = await user();
    const row = await decidedTopUp(u.token, u.phoneNumber, 260, true);
    const other = stkSuccessCallback(row, { phoneNumber: uniquePhone() });
    expect((await postCallback('stk', other.text)).status).toBe(200);
    const done = await eventually(
      () => payment(row.id),
      (p) => p.status === 'succeeded' && p.needsReview,
      15_000,
    );
    expect(done.receipt).toBeNull();
    expect(done.callbackMismatches).toEqual([expect.objectContaining({ kinds: ['phone'], receipt: other.receipt })]);
    expect(await balance(u.id)).toBe(260);
  });

  it('closes as failed an STK push whose callback never comes, when the query says the phone did not answer (1037)', async () => {
    const u = await user(uniquePhone(), 50);
    sim.setOutcome(u.phoneNumber, 'no_callback');
    const started = await topUp(u.token, 320);
    const done = await settled(started.id);
    expect(done).toMatchObject({ status: 'failed', resultCode: 1037 });
    expect(done.reconcileAttempts).toBeGreaterThan(0);
    expect(sim.callbacks.filter((c) => c.text.includes(started.checkoutRequestId))).toEqual([]);
    expect(await balance(u.id)).toBe(50);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.topup_failed')).toBe(
      'Deni: your top-up of Ksh 320 did not go through: your phone did not answer. Nothing was taken.',
    );
  });

  it('settles a top-up whose callback was lost by querying Daraja', async () => {
    const u = await user();
    sim.setOutcome(u.phoneNumber, 'lost_callback');
    const started = await topUp(u.token, 900);
    // The worker's reconciliation runs every second here (MPESA_RECONCILE_AFTER_MS is 1 s); the
    // admin route runs the same thing at once.
    expect((await api.call('POST', '/api/admin/mpesa/reconcile', { admin: true })).status).toBe(200);
    const done = await settled(started.id);
    expect(done).toMatchObject({ status: 'succeeded', resultCode: 0 });
    expect(done.reconcileAttempts).toBeGreaterThan(0);
    expect(sim.callbacks.filter((c) => c.text.includes(started.checkoutRequestId))).toEqual([]);
    expect(await balance(u.id)).toBe(900);
  });

  it('takes a paybill (C2B) payment for a known account reference, once per TransID, and refuses unknown ones', async () => {
    const u = await user();
    expect((await api.call('POST', '/api/admin/mpesa/c2b/register', { admin: true })).status).toBe(200);
    const paid = await sim.c2b({ billRefNumber: localDigits(u.phoneNumber), amount: 650 });
    expect(paid.completed).toBe(true);
    expect(await balance(u.id)).toBe(650);
    // Daraja repeats the confirmation: nothing moves again.
    const again = await fetch(`${callbackBase}/api/mpesa/callbacks/${SECRET}/c2b/confirmation`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: paid.confirmation!.text,
    });
    expect(again.status).toBe(200);
    expect(await balance(u.id)).toBe(650);

    const refused = await sim.c2b({ billRefNumber: 'NOBODY-HERE', amount: 650 });
    expect(refused.completed).toBe(false);
    expect(refused.validation?.status).toBe(200);
    expect(refused.validation?.response).toEqual({ ResultCode: 'C2B00012', ResultDesc: 'Rejected' });
    expect(await ledgerViolations(db)).toEqual([]);
  });

  it('refuses at validation (C2B00013) a paybill payment above the limit, for a known account, and moves nothing', async () => {
    const u = await user();
    expect((await api.call('POST', '/api/admin/mpesa/c2b/register', { admin: true })).status).toBe(200);
    const tooMuch = await sim.c2b({ billRefNumber: localDigits(u.phoneNumber), amount: 250_001 });
    expect(tooMuch.completed).toBe(false);
    expect(tooMuch.confirmation).toBeUndefined();
    expect(tooMuch.validation?.status).toBe(200);
    expect(tooMuch.validation?.response).toEqual({ ResultCode: 'C2B00013', ResultDesc: 'Rejected' });
    // The limit itself is accepted.
    const most = await sim.c2b({ billRefNumber: localDigits(u.phoneNumber), amount: 250_000 });
    expect(most.validation?.response).toEqual({ ResultCode: '0', ResultDesc: 'Accepted' });
    expect(most.completed).toBe(true);
    expect(await balance(u.id)).toBe(250_000);
    expect(await db.getRepository(MpesaPayment).countBy({ userId: u.id, kind: 'c2b' })).toBe(1);
  });

  it('holds a withdrawal, pays it out by B2C, and returns the money when M-PESA fails', async () => {
    const u = await user(uniquePhone(), 2_000);
    const ok = await api.call('POST', '/api/wallet/withdrawals', { token: u.token, body: { amount: 500, pin: PIN } });
    expect(ok.status).toBe(202);
    expect(await balance(u.id)).toBe(1_500); // held at once
    expect(await settled((ok.body as { id: string }).id)).toMatchObject({ status: 'succeeded' });
    expect(await balance(u.id)).toBe(1_500);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_sent')).toMatch(
      /^Deni: Ksh 500 was sent to your M-PESA\. Ref [A-Z0-9]{10}\.$/,
    );

    sim.setOutcome(u.phoneNumber, 'insufficient_funds');
    const failing = await api.call('POST', '/api/wallet/withdrawals', {
      token: u.token,
      body: { amount: 800, pin: PIN },
    });
    expect(failing.status).toBe(202);
    expect(await balance(u.id)).toBe(700);
    expect(await settled((failing.body as { id: string }).id)).toMatchObject({ status: 'failed', resultCode: 1 });
    expect(await balance(u.id)).toBe(1_500);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_failed')).toBe(
      'Deni: your withdrawal of Ksh 800 did not go through. The money is back in your wallet.',
    );
    // More than the wallet holds, or a wrong PIN: refused, nothing held.
    expect(
      (await api.call('POST', '/api/wallet/withdrawals', { token: u.token, body: { amount: 5_000, pin: PIN } })).body,
    ).toMatchObject({
      code: 'WALLET.INSUFFICIENT_FUNDS',
    });
    expect(
      (await api.call('POST', '/api/wallet/withdrawals', { token: u.token, body: { amount: 100, pin: '1357' } }))
        .status,
    ).toBe(401);
    expect(await balance(u.id)).toBe(1_500);
    expect(await ledgerViolations(db)).toEqual([]);
  });

  it('gives the money back when Daraja calls the queue-timeout URL instead of the result URL', async () => {
    const u = await user(uniquePhone(), 1_000);
    sim.setOutcome(u.phoneNumber, 'queue_timeout');
    const res = await api.call('POST', '/api/wallet/withdrawals', { token: u.token, body: { amount: 600, pin: PIN } });
    expect(res.status).toBe(202);
    const id = (res.body as { id: string }).id;
    expect(await balance(u.id)).toBe(400);
    const done = await settled(id);
    expect(done).toMatchObject({ status: 'failed', resultCode: 1, needsReview: false });
    expect(done.resultDesc).toMatch(/^Queue timeout: /);
    // (The simulator notes our answer once it has read it, which may be after the row changed.)
    await eventually(
      () => sim.callbacks.filter((c) => c.kind === 'b2c_timeout' && c.text.includes(id)).map((c) => c.status),
      (s) => s.length === 1 && s[0] === 200,
    );
    expect(sim.callbacks.filter((c) => c.kind === 'b2c_result' && c.text.includes(id))).toEqual([]);
    expect(await balance(u.id)).toBe(1_000);
    expect(await transfersWithKey(`withdrawal:${id}:outcome`)).toBe(1);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_failed')).toBe(
      'Deni: your withdrawal of Ksh 600 did not go through. The money is back in your wallet.',
    );
  });

  it('ends a withdrawal whose result and timeout never come by asking Transaction Status: M-PESA timed it out, the money comes back', async () => {
    const u = await user(uniquePhone(), 1_500);
    sim.setOutcome(u.phoneNumber, 'no_callback');
    const res = await api.call('POST', '/api/wallet/withdrawals', { token: u.token, body: { amount: 700, pin: PIN } });
    const id = (res.body as { id: string }).id;
    expect(await payment(id)).toMatchObject({
      status: 'pending',
      conversationId: expect.stringMatching(/^AG_/) as unknown,
    });
    expect(await balance(u.id)).toBe(800);

    // The worker's reconciliation (every second here) asks; the answer settles it.
    const done = await settled(id);
    expect(done).toMatchObject({
      status: 'failed',
      resultCode: null,
      resultDesc: 'Transaction status: Expired',
      needsReview: false,
    });
    expect(done.reconcileAttempts).toBeGreaterThan(0);
    const asked = sim.requests.filter(
      (r) => r.path === STATUS_QUERY && (r.body as Record<string, unknown>).OriginatorConversationID === id,
    );
    expect(asked.length).toBeGreaterThan(0);
    expect(asked[0].body).toMatchObject({ CommandID: 'TransactionStatusQuery', PartyA: '600000', IdentifierType: '4' });
    expect(String((asked[0].body as Record<string, unknown>).ResultURL)).toBe(
      `${callbackBase}/api/mpesa/callbacks/${SECRET}/b2c/status/${id}/result`,
    );
    expect(
      sim.callbacks.filter((c) => (c.kind === 'b2c_result' || c.kind === 'b2c_timeout') && c.text.includes(id)),
    ).toEqual([]);
    await eventually(
      () => sim.callbacks.filter((c) => c.kind === 'transaction_status' && c.url.includes(id)),
      (sent) => sent.some((c) => c.status === 200),
    );
    expect(await balance(u.id)).toBe(1_500);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_failed')).toBe(
      'Deni: your withdrawal of Ksh 700 did not go through. The money is back in your wallet.',
    );
  });

  it('settles a withdrawal whose result was lost when Transaction Status says Completed, once however often that answer comes', async () => {
    const u = await user(uniquePhone(), 1_200);
    sim.setOutcome(u.phoneNumber, 'lost_callback');
    const res = await api.call('POST', '/api/wallet/withdrawals', { token: u.token, body: { amount: 500, pin: PIN } });
    const id = (res.body as { id: string }).id;
    const done = await settled(id);
    expect(done).toMatchObject({ status: 'succeeded', resultCode: 0, resultDesc: 'Transaction status: Completed' });
    expect(done.receipt).toMatch(/^[A-Z0-9]{10}$/);
    expect(await balance(u.id)).toBe(700);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(
      `Deni: Ksh 500 was sent to your M-PESA. Ref ${done.receipt}.`,
    );

    // Daraja's answer again, three times at once: nothing more moves, nobody is told twice.
    const [answer] = sim.callbacks.filter((c) => c.kind === 'transaction_status' && c.url.includes(id));
    const again = await Promise.all([1, 2, 3].map(() => postCallback(`b2c/status/${id}/result`, answer.text)));
    expect(again.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(await payment(id)).toMatchObject({ status: 'succeeded', receipt: done.receipt });
    expect(await balance(u.id)).toBe(700);
    expect(await transfersWithKey(`withdrawal:${id}:outcome`)).toBe(1);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(1);
  });

  it('keeps a withdrawal held when Transaction Status gives no verdict or speaks of another transaction', async () => {
    const u = await user(uniquePhone(), 1_000);
    sim.setOutcome(u.phoneNumber, 'no_callback');
    const res = await api.call('POST', '/api/wallet/withdrawals', { token: u.token, body: { amount: 400, pin: PIN } });
    const id = (res.body as { id: string }).id;
    const { conversationId } = await payment(id);
    expect(conversationId).toMatch(/^AG_/);
    const path = `b2c/status/${id}/result`;
    // (Reconciliation asks only a second after the request, and its answer takes another second.)
    const untouched = [
      // Safaricom's sample as published: Completed, but about another transaction of another amount.
      published<StatusResultBody>('daraja-transaction-status-result.json'),
      // The query itself failed (a string code, no parameters).
      {
        Result: {
          ResultType: 0,
          ResultCode: 'SFC_IC0003',
          ResultDesc: 'Receiver party is invalid',
          OriginatorConversationID: '41ee-4e5a',
          ConversationID: 'AG_20251106_0100',
        },
      },
      // Bad credentials for the query: says nothing about the withdrawal.
      {
        ...statusResult({ id, amount: 400, conversationId }, 'Completed'),
        Result: { ...statusResult({ id, amount: 400, conversationId }, 'Completed').Result, ResultCode: 2001 },
      },
      // Right transaction, not decided yet.
      statusResult({ id, amount: 400, conversationId }, 'Pending'),
      // Right transaction, wrong amount.
      statusResult({ id, amount: 4_000, conversationId }, 'Completed'),
      // Our OriginatorConversationID, but another transaction's ConversationID (the sample's).
      statusResult({ id, amount: 400, conversationId: 'AG_20180223_000041b09c22e613d6c9' }, 'Completed'),
      // Our OriginatorConversationID and no ConversationID at all: Daraja acknowledged this one, and
      // its ConversationID is what identifies it.
      statusResult({ id, amount: 400 }, 'Completed'),
    ];
    for (const body of untouched) expect((await postCallback(path, JSON.stringify(body))).status).toBe(200);
    // Not about any withdrawal of ours: ignored, answered 200 as Daraja expects.
    expect(
      (
        await postCallback(
          'b2c/status/not-a-payment/result',
          JSON.stringify(statusResult({ id, amount: 400 }, 'Failed')),
        )
      ).status,
    ).toBe(200);
    const unreadable = await postCallback(path, '{"Result":{"ResultCode":"not ok"}}');
    expect(unreadable.status).toBe(422);
    expect(await unreadable.json()).toMatchObject({ code: 'MPESA.BAD_CALLBACK' });
    expect((await postCallback(`b2c/status/${id}/timeout`, JSON.stringify(untouched[1]))).status).toBe(200);
    // The decisive answers that were not about it flag it for an operator: its money stays held.
    const held = await payment(id);
    expect(held).toMatchObject({ status: 'pending', needsReview: true });
    expect(held.unmatchedStatusAnswer).toMatch(/^Transaction Status said Completed about /);
    expect(await balance(u.id)).toBe(600);
    expect(await transfersWithKey(`withdrawal:${id}:outcome`)).toBe(0);

    // Reconciliation's own question then gets the real answer (timed out at M-PESA): money back.
    expect(await settled(id)).toMatchObject({ status: 'failed', resultDesc: 'Transaction status: Expired' });
    expect(await balance(u.id)).toBe(1_000);
  });

  it('re-sends a B2C request Daraja did not acknowledge with the same OriginatorConversationID, and M-PESA pays it once', async () => {
    const u = await user(uniquePhone(), 1_000);
    // Daraja answers this number's next two B2C requests with an error (its 500.003.02 envelope):
    // not acknowledged, nothing queued at M-PESA.
    sim.injectFault({ path: B2C_REQUEST, kind: 'status', status: 500, times: 2, phoneNumber: u.phoneNumber });
    const res = await api.call('POST', '/api/wallet/withdrawals', { token: u.token, body: { amount: 400, pin: PIN } });
    expect(res.status).toBe(202);
    const id = (res.body as { id: string }).id;
    expect(await payment(id)).toMatchObject({ status: 'requested', conversationId: null });
    expect(await balance(u.id)).toBe(600);

    // Reconciliation sends it again (every second here) until Daraja takes it; then its result settles it.
    const done = await settled(id);
    expect(done).toMatchObject({ status: 'succeeded', resultCode: 0, needsReview: false });
    expect(done.reconcileAttempts).toBeGreaterThanOrEqual(2);
    const sends = requestsWith(sim, B2C_REQUEST, 'PartyB', u.phoneNumber);
    expect(sends.map((r) => (r.body as Record<string, unknown>).OriginatorConversationID)).toEqual([id, id, id]);
    expect(sim.callbacks.filter((c) => c.kind === 'b2c_result' && c.text.includes(id))).toHaveLength(1);
    expect(await balance(u.id)).toBe(600);
    expect(await transfersWithKey(`withdrawal:${id}:outcome`)).toBe(1);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(1);
  });

  it('pays once when a request M-PESA already took is sent again (its acknowledgement lost): Daraja refuses the repeated OriginatorConversationID', async () => {
    const u = await user(uniquePhone(), 1_000);
    // Paid, and the result lost: only Transaction Status will tell.
    sim.setOutcome(u.phoneNumber, 'lost_callback');
    const res = await api.call('POST', '/api/wallet/withdrawals', { token: u.token, body: { amount: 300, pin: PIN } });
    const id = (res.body as { id: string }).id;
    // As if Deni had stopped before recording Daraja's acknowledgement: the row says never acknowledged.
    const [, changed] = await db.query<[unknown, number]>(
      `UPDATE mpesa_payments SET status = 'requested', conversation_id = NULL, response = NULL, updated_at = now() WHERE id = $1 AND status = 'pending'`,
      [id],
    );
    expect(changed).toBe(1);

    const done = await settled(id);
    expect(done).toMatchObject({
      status: 'succeeded',
      resultDesc: 'Transaction status: Completed',
      needsReview: false,
    });
    // The original and one re-send with the same id (answered 500.002.1001, Duplicate
    // OriginatorConversationID), then no more: it is pending from then on.
    const sends = requestsWith(sim, B2C_REQUEST, 'OriginatorConversationID', id);
    expect(sends).toHaveLength(2);
    expect(requestsWith(sim, STATUS_QUERY, 'OriginatorConversationID', id).length).toBeGreaterThan(0);
    expect(await balance(u.id)).toBe(700);
    expect(await transfersWithKey(`withdrawal:${id}:outcome`)).toBe(1);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(1);
  });

  it('makes one withdrawal of a request retried with the same Idempotency-Key', async () => {
    const u = await user(uniquePhone(), 1_000);
    const send = () =>
      api.call('POST', '/api/wallet/withdrawals', {
        token: u.token,
        body: { amount: 300, pin: PIN },
        headers: { 'idempotency-key': 'retry-me-1' },
      });
    const [first, second] = [await send(), await send()];
    expect(first.status).toBe(202);
    expect((second.body as { id: string }).id).toBe((first.body as { id: string }).id);
    await settled((first.body as { id: string }).id);
    expect(await balance(u.id)).toBe(700);
    expect(await db.getRepository(MpesaPayment).countBy({ userId: u.id, kind: 'b2c' })).toBe(1);
  });

  it('withdraws by USSD after the PIN', async () => {
    const u = await user(uniquePhone(), 1_000);
    const phone = new AtPhone(app, u.phoneNumber);
    await phone.dial('7*2');
    await phone.reply('400');
    expect(await phone.reply(PIN)).toBe('END Ksh 400 is on its way to your M-PESA. You will get an SMS.');
    const [row] = await db.getRepository(MpesaPayment).find({ where: { userId: u.id, kind: 'b2c' } });
    expect(await settled(row.id)).toMatchObject({ status: 'succeeded' });
    expect(await balance(u.id)).toBe(600);
  });

  it('lets an operator clear needs_review on a payment they checked, recording who, when and what they found (admin key)', async () => {
    // M-PESA took money for a push Deni has no record of: kept as unmatched, flagged.
    const checkoutRequestId = `ws_CO_REVIEW${randomBytes(8).toString('hex')}`;
    const body = published<{ Body: { stkCallback: Record<string, unknown> } }>('daraja-stk-callback-success.json');
    Object.assign(body.Body.stkCallback, {
      CheckoutRequestID: checkoutRequestId,
      MerchantRequestID: `m-${checkoutRequestId}`,
    });
    expect((await postCallback('stk', JSON.stringify(body))).status).toBe(200);
    const flagged = await db.getRepository(MpesaPayment).findOneByOrFail({ checkoutRequestId });
    expect(flagged).toMatchObject({
      status: 'unmatched',
      needsReview: true,
      reviewedAt: null,
      reviewedBy: null,
      reviewNote: null,
    });
    const path = `/api/admin/mpesa/payments/${flagged.id}/reviewed`;
    const review = {
      note: 'Statement checked: Ksh 1 from 254708374149, reversed by M-PESA on request.',
      reviewedBy: 'Achieng (finance ops)',
    };

    // Without the admin key, or with a wrong one: refused, nothing recorded.
    for (const headers of [{}, { 'x-api-key': 'wrong-key-0123456789' }]) {
      const refused = await app.inject({ method: 'POST', url: path, headers, payload: review });
      expect(refused.statusCode).toBe(401);
      expect(refused.json()).toMatchObject({ code: 'AUTH.ADMIN_KEY_REQUIRED' });
    }
    // A note and a name are required, not blank, not too long, and nothing else.
    for (const bad of [
      {},
      { note: review.note },
      { reviewedBy: review.reviewedBy },
      { ...review, note: '   ' },
      { ...review, reviewedBy: '' },
      { ...review, note: 'x'.repeat(1_001) },
      { ...review, reviewedBy: 'x'.repeat(65) },
      { ...review, needsReview: true },
    ]) {
      const res = await api.call('POST', path, { admin: true, body: bad });
      expect({ bad, status: res.status }).toEqual({ bad, status: 400 });
    }
    // Unknown ids: 404.
    for (const unknown of ['00000000-0000-4000-8000-000000000000', 'not-a-payment']) {
      const res = await api.call('POST', `/api/admin/mpesa/payments/${unknown}/reviewed`, {
        admin: true,
        body: review,
      });
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ code: 'MPESA.PAYMENT_NOT_FOUND' });
    }
    expect(await payment(flagged.id)).toMatchObject({ needsReview: true, reviewedAt: null });

    const before = Date.now();
    const ok = await api.call('POST', path, { admin: true, body: review });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      id: flagged.id,
      status: 'unmatched',
      needsReview: false,
      reviewedBy: review.reviewedBy,
      reviewNote: review.note,
      resultDesc: flagged.resultDesc,
    });
    expect(ok.body).not.toHaveProperty('callback');
    const reviewed = await payment(flagged.id);
    expect(reviewed).toMatchObject({
      needsReview: false,
      reviewedBy: review.reviewedBy,
      reviewNote: review.note,
      status: 'unmatched',
      amount: flagged.amount,
    });
    expect(reviewed.reviewedAt!.getTime()).toBeGreaterThanOrEqual(before - 5_000);
    const stillFlagged = await api.call('GET', '/api/admin/mpesa/payments?needsReview=true', { admin: true });
    expect((stillFlagged.body as { id: string }[]).map((p) => p.id)).not.toContain(flagged.id);

    // Once: again (or on a payment never flagged) is a conflict that changes nothing.
    const again = await api.call('POST', path, { admin: true, body: { ...review, reviewedBy: 'someone else' } });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'MPESA.REVIEW_NOT_NEEDED' });
    expect(await payment(flagged.id)).toMatchObject({ reviewedBy: review.reviewedBy });
    const u = await user(uniquePhone(), 300);
    const plain = await app.get(WithdrawalService).withdraw(u.id, 100);
    await settled(plain.id);
    expect(
      (await api.call('POST', `/api/admin/mpesa/payments/${plain.id}/reviewed`, { admin: true, body: review })).body,
    ).toMatchObject({ code: 'MPESA.REVIEW_NOT_NEEDED' });
  });

  it('refuses callbacks on a wrong secret path and answers malformed bodies with 422, moving nothing', async () => {
    const wrong = await fetch(`${callbackBase}/api/mpesa/callbacks/not-the-secret-at-all/stk`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(wrong.status).toBe(404);
    for (const body of ['{}', '{"Body":{"stkCallback":{"ResultCode":"zero"}}}', '[]', 'null']) {
      const res = await fetch(`${callbackBase}/api/mpesa/callbacks/${SECRET}/stk`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ code: 'MPESA.BAD_CALLBACK' });
    }
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
  });
});

describe('paybill (C2B) payments with MPESA_C2B_VERIFY on', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let sim: DarajaSimulator;
  let callbackBase: string;

  beforeAll(async () => {
    const port = await freePort();
    callbackBase = `http://127.0.0.1:${port}`;
    ({ app, daraja: sim } = await startTestApp({
      MPESA_CALLBACK_BASE_URL: callbackBase,
      MPESA_CALLBACK_SECRET: SECRET,
      MPESA_RECONCILE_AFTER_MS: '1000',
      MPESA_C2B_VERIFY: 'true',
      ADMIN_API_KEY: ADMIN_KEY,
    }));
    await app.listen(port, '127.0.0.1');
    api = new ApiClient(app);
    expect((await api.call('POST', '/api/admin/mpesa/c2b/register', { admin: true })).status).toBe(200);
  });
  afterAll(() => app?.close());
  afterEach(() => sim.clearFaults());

  const { payment, balance } = ledgerChecks(() => app);
  const c2bPayment = (transId: string) => app.get(DataSource).getRepository(MpesaPayment).findOneByOrFail({ transId });
  const statusQuestions = (transId: string) => requestsWith(sim, STATUS_QUERY, 'TransactionID', transId);

  it('records a confirmation and credits it only once Transaction Status confirms its TransID and amount', async () => {
    const u = await app.get(UsersService).findOrRegister(uniquePhone());
    // Transaction Status refuses every question for now: the confirmation alone credits nothing.
    sim.injectFault({ path: STATUS_QUERY, kind: 'status', status: 500, times: 1_000 });
    const paid = await sim.c2b({ billRefNumber: localDigits(u.phoneNumber), amount: 650 });
    expect(paid.completed).toBe(true);
    await eventually(
      () => statusQuestions(paid.transId),
      (asked) => asked.length >= 1,
      15_000,
    );
    expect(await c2bPayment(paid.transId)).toMatchObject({ status: 'pending', amount: 650 });
    expect(await balance(u.id)).toBe(0);

    // Daraja answers again: reconciliation's question is answered Completed, 650, and credits once.
    sim.clearFaults();
    const row = await c2bPayment(paid.transId);
    const done = await eventually(
      () => payment(row.id),
      (p) => p.status === 'succeeded',
      15_000,
    );
    expect(done).toMatchObject({ receipt: paid.transId, needsReview: false });
    expect(await balance(u.id)).toBe(650);
    expect(statusQuestions(paid.transId)[0].body).toMatchObject({ PartyA: '174379', IdentifierType: '4' });
  });

  it("never credits a forged confirmation (Safaricom's sample with an unknown TransID and Amount 99999)", async () => {
    const u = await app.get(UsersService).findOrRegister(uniquePhone());
    const forged = published<Record<string, string>>('daraja-c2b-confirmation.json');
    forged.TransID = 'FORGED0002';
    forged.TransAmount = '99999.00';
    forged.BillRefNumber = localDigits(u.phoneNumber);
    forged.BusinessShortCode = '174379';
    const res = await fetch(`${callbackBase}/api/mpesa/callbacks/${SECRET}/c2b/confirmation`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(forged),
    });
    expect(res.status).toBe(200);
    // Transaction Status is asked and answers that it knows no such transaction.
    await eventually(
      () => sim.callbacks.filter((c) => c.kind === 'transaction_status' && c.url.includes('/c2b/status/')),
      (sent) => sent.some((c) => c.status === 200 && c.text.includes('cannot be found')),
      15_000,
    );
    expect(await c2bPayment('FORGED0002')).toMatchObject({ status: 'pending' });
    expect(await balance(u.id)).toBe(0);
  });
});

describe('a paybill payment Transaction Status never confirms (MPESA_C2B_VERIFY, MPESA_RECONCILE_MAX_AGE_MS)', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let sim: DarajaSimulator;
  let db: DataSource;

  beforeAll(async () => {
    // Callbacks here go nowhere (MPESA_CALLBACK_BASE_URL is a closed port): Daraja accepts every
    // Transaction Status question, and no answer ever arrives.
    ({ app, daraja: sim } = await startTestApp({
      MPESA_CALLBACK_SECRET: SECRET,
      MPESA_RECONCILE_AFTER_MS: '1000',
      MPESA_RECONCILE_MAX_AGE_MS: '4000',
      MPESA_C2B_VERIFY: 'true',
      ADMIN_API_KEY: ADMIN_KEY,
    }));
    api = new ApiClient(app);
    db = app.get(DataSource);
  });
  afterAll(() => app?.close());

  const { payment, balance } = ledgerChecks(() => app);
  async function notConfirmed(): Promise<number> {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const line = /^deni_mpesa_callback_mismatch_total\{kind="not_confirmed"\} (\d+)$/m.exec(text);
    return line ? Number(line[1]) : 0;
  }

  it('is flagged for an operator no sooner than MPESA_RECONCILE_MAX_AGE_MS after it was recorded, once, crediting nothing', async () => {
    const u = await app.get(UsersService).findOrRegister(uniquePhone());
    const before = await notConfirmed();
    const confirmation = published<Record<string, string>>('daraja-c2b-confirmation.json');
    const transId = `TK${randomBytes(4).toString('hex').toUpperCase()}`;
    Object.assign(confirmation, {
      TransID: transId,
      TransAmount: '650.00',
      BillRefNumber: localDigits(u.phoneNumber),
      BusinessShortCode: '174379',
    });
    const res = await app.inject({
      method: 'POST',
      url: `/api/mpesa/callbacks/${SECRET}/c2b/confirmation`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(confirmation),
    });
    expect(res.statusCode).toBe(200);
    const row = await db.getRepository(MpesaPayment).findOneByOrFail({ transId });
    expect(row).toMatchObject({ status: 'pending', needsReview: false, amount: 650 });

    const flagged = await eventually(
      () => payment(row.id),
      (p) => p.needsReview,
      20_000,
    );
    expect(flagged).toMatchObject({ status: 'pending', receipt: transId });
    expect(flagged.callbackMismatches).toEqual([
      expect.objectContaining({ kinds: ['not_confirmed'], resultCode: 0, receipt: transId, amount: 650 }),
    ]);
    // Asked meanwhile (Daraja took the questions), and flagged no sooner than the maximum age.
    expect(requestsWith(sim, STATUS_QUERY, 'TransactionID', transId).length).toBeGreaterThanOrEqual(1);
    const [{ age }] = await db.query<{ age: number }[]>(
      `SELECT extract(epoch FROM (callback_mismatches->0->>'at')::timestamptz - created_at) * 1000 AS age
         FROM mpesa_payments WHERE id = $1`,
      [row.id],
    );
    expect(Number(age)).toBeGreaterThanOrEqual(4_000);
    // (At least: the run's database may hold other blocks' confirmations never confirmed either.)
    expect(await notConfirmed()).toBeGreaterThanOrEqual(before + 1);
    const list = await api.call('GET', '/api/admin/mpesa/payments?needsReview=true', { admin: true });
    expect((list.body as { id: string }[]).map((p) => p.id)).toContain(row.id);

    // Later runs look at it again and neither credit it nor flag it twice.
    await eventually(
      () => payment(row.id),
      (p) => p.reconcileAttempts >= flagged.reconcileAttempts + 2,
      15_000,
    );
    const after = await payment(row.id);
    expect(after).toMatchObject({ status: 'pending', needsReview: true });
    expect(after.callbackMismatches).toHaveLength(1);
    expect(await balance(u.id)).toBe(0);
    expect(
      (
        await db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM transfers WHERE idempotency_key = $1`, [
          `deposit:c2b:${transId}`,
        ])
      )[0].n,
    ).toBe(0);
  });
});

describe('a withdrawal M-PESA never answers for (MPESA_RECONCILE_MAX_AGE_MS, MPESA_RECONCILE_LAST_RESORT=release)', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let sim: DarajaSimulator;
  let db: DataSource;

  beforeAll(async () => {
    // Callbacks here go nowhere (MPESA_CALLBACK_BASE_URL is a closed port): neither the B2C result
    // nor any Transaction Status answer ever arrives, but for those a test posts itself.
    ({ app, daraja: sim } = await startTestApp({
      MPESA_CALLBACK_SECRET: SECRET,
      MPESA_RECONCILE_AFTER_MS: '1000',
      MPESA_RECONCILE_MAX_AGE_MS: '4000',
      MPESA_RECONCILE_LAST_RESORT: 'release',
    }));
    api = new ApiClient(app);
    db = app.get(DataSource);
  });
  afterAll(() => app?.close());

  const { payment, balance, smsCount } = ledgerChecks(() => app);
  const outcomes = async (id: string) =>
    (
      await db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM transfers WHERE idempotency_key = $1`, [
        `withdrawal:${id}:outcome`,
      ])
    )[0].n;
  const postStatusResult = (id: string, body: unknown) =>
    app.inject({
      method: 'POST',
      url: `/api/mpesa/callbacks/${SECRET}/b2c/status/${id}/result`,
      payload: body as Record<string, unknown>,
    });
  /** A withdrawal of `amount` from a wallet of 900 that Daraja acknowledged and will never answer for. */
  async function acknowledged(amount: number) {
    const u = await app.get(UsersService).findOrRegister(uniquePhone());
    await app.get(LoansService).receiveDeposit({ userId: u.id, amount: 900, reference: `MP-${u.phoneNumber}` });
    sim.setOutcome(u.phoneNumber, 'no_callback');
    const started = await app.get(WithdrawalService).withdraw(u.id, amount);
    expect(started).toMatchObject({
      status: 'pending',
      conversationId: expect.stringMatching(/^AG_/) as unknown,
      statusQueries: 0,
    });
    expect(started.acknowledgedAt).toBeInstanceOf(Date);
    expect(await balance(u.id)).toBe(900 - amount);
    return { u, started, conversationId: started.conversationId! };
  }

  it('is given back MPESA_RECONCILE_MAX_AGE_MS after Daraja acknowledged it, only once Transaction Status was asked, flagged; a late success is flagged, not settled', async () => {
    const { u, started, conversationId } = await acknowledged(500);
    // Acknowledged only after an hour of re-sends: the maximum age counts from the acknowledgement.
    await db.query(`UPDATE mpesa_payments SET created_at = created_at - interval '1 hour' WHERE id = $1`, [started.id]);

    const done = await eventually(
      () => payment(started.id),
      (p) => p.status !== 'pending',
      15_000,
    );
    expect(done).toMatchObject({ status: 'failed', resultCode: null, needsReview: true });
    expect(done.resultDesc).toMatch(
      /^OUTCOME UNKNOWN: no result from M-PESA \d+ s after it acknowledged the request \(\d+ status queries, no verdict\); hold released, check the M-PESA statement$/,
    );
    // Asked (every question accepted by Daraja, counted), and given back no sooner than the maximum
    // age after the acknowledgement and MPESA_RECONCILE_AFTER_MS after the last question.
    const asked = requestsWith(sim, STATUS_QUERY, 'OriginatorConversationID', started.id);
    expect(asked.length).toBeGreaterThanOrEqual(1);
    expect(done.statusQueries).toBe(asked.length);
    expect(done.completedAt!.getTime() - done.acknowledgedAt!.getTime()).toBeGreaterThanOrEqual(4_000);
    expect(done.completedAt!.getTime() - done.statusQueriedAt!.getTime()).toBeGreaterThanOrEqual(1_000);
    expect(await balance(u.id)).toBe(900);
    // Not "did not go through": nobody knows whether M-PESA paid.
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_unconfirmed')).toBe(unconfirmedSms(500));
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_failed')).toBeUndefined();
    const flagged = await api.call('GET', '/api/admin/mpesa/payments?needsReview=true', { admin: true });
    expect(flagged.status).toBe(200);
    expect(flagged.body).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: started.id, needsReview: true, status: 'failed' })]),
    );
    const unflagged = await api.call(
      'GET',
      `/api/admin/mpesa/payments?needsReview=false&phoneNumber=${u.phoneNumber}`,
      { admin: true },
    );
    expect(unflagged.body).toEqual([]);

    // M-PESA did pay after all: the user now has the money twice. Flagged loudly, never settled.
    const late = await postStatusResult(
      started.id,
      statusResult({ id: started.id, amount: 500, conversationId }, 'Completed', 'TK1LATEPAY'),
    );
    expect(late.statusCode).toBe(200);
    expect(await payment(started.id)).toMatchObject({
      status: 'failed',
      needsReview: true,
      receipt: 'TK1LATEPAY',
      resultDesc: 'PAID AFTER RELEASE (receipt TK1LATEPAY): needs an operator',
    });
    expect(await balance(u.id)).toBe(900);
    expect(await outcomes(started.id)).toBe(1);
  });

  it("takes a Transaction Status answer by the ConversationID of Daraja's acknowledgement, whatever OriginatorConversationID it carries", async () => {
    const { u, started, conversationId } = await acknowledged(300);
    // Our OriginatorConversationID, another transaction's ConversationID: not this withdrawal.
    const other = await postStatusResult(
      started.id,
      statusResult({ id: started.id, amount: 300, conversationId: 'AG_20180223_000041b09c22e613d6c9' }, 'Completed'),
    );
    expect(other.statusCode).toBe(200);
    // Decisive but not about it: flagged, money held, the last resort blocked.
    const flagged = await payment(started.id);
    expect(flagged).toMatchObject({ status: 'pending', receipt: null, needsReview: true });
    expect(flagged.resultDesc).toMatch(
      /^UNMATCHED STATUS ANSWER: Transaction Status said Completed about ConversationID AG_20180223_000041b09c22e613d6c9/,
    );
    expect(await outcomes(started.id)).toBe(0);

    // As Safaricom's sample shows it: Daraja's own OriginatorConversationID, our ConversationID.
    const body = statusResult({ id: null, amount: 300, conversationId }, 'Completed', 'TK3DARAJA1');
    const parameters = body.Result.ResultParameters!.ResultParameter;
    expect(parameters.find((p) => p.Key === 'OriginatorConversationID')?.Value).toBe('3211-416020-3');
    expect(parameters.find((p) => p.Key === 'ConversationID')?.Value).toBe(conversationId);
    expect((await postStatusResult(started.id, body)).statusCode).toBe(200);
    // Its own answer still ends it; the flag stays for an operator to look at the stray answer.
    expect(await payment(started.id)).toMatchObject({
      status: 'succeeded',
      resultCode: 0,
      resultDesc: 'Transaction status: Completed',
      receipt: 'TK3DARAJA1',
      needsReview: true,
    });
    expect(await balance(u.id)).toBe(600);
    expect(await outcomes(started.id)).toBe(1);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(
      'Deni: Ksh 300 was sent to your M-PESA. Ref TK3DARAJA1.',
    );
  });

  it('finishes as paid a withdrawal the ledger settled but whose payment was never updated, when the last resort comes to release it', async () => {
    const { u, started } = await acknowledged(400);
    // M-PESA's success settled in the ledger, then the process stopped before the payment's update.
    await app.get(WalletService).settleWithdrawal(started.id);

    const done = await eventually(
      () => payment(started.id),
      (p) => p.status !== 'pending',
      15_000,
    );
    expect(done).toMatchObject({
      status: 'succeeded',
      resultCode: null,
      needsReview: false,
      resultDesc: 'Paid: settled in the ledger before this payment was updated',
    });
    expect(done.statusQueries).toBeGreaterThan(0);
    expect(await balance(u.id)).toBe(500);
    expect(await outcomes(started.id)).toBe(1);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_unconfirmed')).toBe(0);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_failed')).toBe(0);
  });

  it('flags a success that comes after the release was recorded in the ledger, keeps its receipt, and nothing that closes the payment later overwrites it', async () => {
    const { u, started, conversationId } = await acknowledged(200);
    // The release is in the ledger, the payment's update not (yet): then M-PESA says it paid.
    await app.get(WalletService).releaseWithdrawal(started.id);
    const late = await postStatusResult(
      started.id,
      statusResult({ id: started.id, amount: 200, conversationId }, 'Completed', 'TK2LATEPAY'),
    );
    expect(late.statusCode).toBe(200);
    const flagged = {
      status: 'failed',
      needsReview: true,
      receipt: 'TK2LATEPAY',
      resultDesc: 'PAID AFTER RELEASE (receipt TK2LATEPAY): needs an operator',
    };
    expect(await payment(started.id)).toMatchObject(flagged);
    expect(await balance(u.id)).toBe(900);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_unconfirmed')).toBe(1);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(0);

    // As if that flag had committed and not the payment's close: the last resort closes it later,
    // and its "OUTCOME UNKNOWN" does not replace what M-PESA said.
    await db.query(
      `UPDATE mpesa_payments SET status = 'pending', completed_at = NULL, updated_at = now() WHERE id = $1`,
      [started.id],
    );
    const closed = await eventually(
      () => payment(started.id),
      (p) => p.status !== 'pending',
      15_000,
    );
    expect(closed).toMatchObject(flagged);
    expect(closed.statusQueries).toBeGreaterThan(0);
    expect(await balance(u.id)).toBe(900);
    expect(await outcomes(started.id)).toBe(1);
  });
});

describe('a withdrawal M-PESA never answers for, with MPESA_RECONCILE_LAST_RESORT=hold', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let sim: DarajaSimulator;

  beforeAll(async () => {
    // As above: callbacks go nowhere, so no verdict ever comes unless a test posts one.
    ({ app, daraja: sim } = await startTestApp({
      MPESA_CALLBACK_SECRET: SECRET,
      MPESA_RECONCILE_AFTER_MS: '1000',
      MPESA_RECONCILE_MAX_AGE_MS: '4000',
      MPESA_RECONCILE_LAST_RESORT: 'hold',
    }));
    api = new ApiClient(app);
  });
  afterAll(() => app?.close());

  const OPERATOR = 'Wanjiku (finance ops)';
  const { payment, balance, smsCount, outcomes } = ledgerChecks(() => app);
  const postStatusResult = (id: string, body: unknown) =>
    app.inject({
      method: 'POST',
      url: `/api/mpesa/callbacks/${SECRET}/b2c/status/${id}/result`,
      payload: body as Record<string, unknown>,
    });
  const resolve = (id: string, body: Record<string, unknown>) =>
    api.call<MpesaPayment>('POST', `/api/admin/mpesa/payments/${id}/resolve`, { admin: true, body });
  const HELD =
    /^OUTCOME UNKNOWN: no result from M-PESA \d+ s after it acknowledged the request \(\d+ status queries, no verdict\); money still held \(MPESA_RECONCILE_LAST_RESORT=hold\), an operator resolves it from the M-PESA statement$/;

  /** A withdrawal of `amount` from a wallet of 900 that Daraja acknowledged, never answered for, and the last resort flagged. */
  async function held(amount: number) {
    const u = await app.get(UsersService).findOrRegister(uniquePhone());
    await app.get(LoansService).receiveDeposit({ userId: u.id, amount: 900, reference: `MP-${u.phoneNumber}` });
    sim.setOutcome(u.phoneNumber, 'no_callback');
    const started = await app.get(WithdrawalService).withdraw(u.id, amount);
    expect(started).toMatchObject({ status: 'pending', conversationId: expect.stringMatching(/^AG_/) as unknown });
    const flagged = await eventually(
      () => payment(started.id),
      (p) => p.needsReview,
      15_000,
    );
    return { u, started, flagged };
  }

  it('keeps the money held past the maximum age, flagged, tells the user nothing new, and goes on asking M-PESA', async () => {
    const { u, started, flagged } = await held(500);
    expect(flagged).toMatchObject({ status: 'pending', resultCode: null, completedAt: null });
    expect(flagged.resultDesc).toMatch(HELD);
    expect(flagged.statusQueries).toBeGreaterThan(0);
    expect(await balance(u.id)).toBe(400);
    expect(await outcomes(started.id)).toEqual([]);
    for (const template of ['mpesa.withdrawal_unconfirmed', 'mpesa.withdrawal_failed', 'mpesa.withdrawal_sent'])
      expect({ template, n: await smsCount(u.phoneNumber, template) }).toEqual({ template, n: 0 });
    const listed = await api.call('GET', `/api/admin/mpesa/payments?needsReview=true&phoneNumber=${u.phoneNumber}`, {
      admin: true,
    });
    expect(listed.body).toEqual([expect.objectContaining({ id: started.id, status: 'pending', needsReview: true })]);

    // Still asked on later runs: a verdict that comes late would still end it.
    const askedAgain = await eventually(
      () => payment(started.id),
      (p) => p.statusQueries > flagged.statusQueries,
      15_000,
    );
    expect(askedAgain).toMatchObject({ status: 'pending', needsReview: true, resultDesc: flagged.resultDesc });
    // (The simulator records a question before Deni counts it: one may be on its way.)
    expect(requestsWith(sim, STATUS_QUERY, 'OriginatorConversationID', started.id).length).toBeGreaterThanOrEqual(
      askedAgain.statusQueries,
    );
    expect(await balance(u.id)).toBe(400);
    expect(await outcomes(started.id)).toEqual([]);
  });

  it('is ended by an operator from the M-PESA statement: not paid gives the money back, paid settles it', async () => {
    const notPaid = await held(300);
    const released = await resolve(notPaid.started.id, {
      outcome: 'not_paid',
      reviewedBy: OPERATOR,
      note: 'M-PESA statement: no such payment.',
    });
    expect(released.status).toBe(200);
    expect(released.body).toMatchObject({ status: 'failed', needsReview: false, resolution: 'not_paid' });
    expect(await balance(notPaid.u.id)).toBe(900);
    expect(await outcomes(notPaid.started.id)).toEqual(['withdrawal_release']);
    expect(await api.lastSms(notPaid.u.phoneNumber, 'mpesa.withdrawal_failed')).toBe(
      'Deni: your withdrawal of Ksh 300 did not go through. The money is back in your wallet.',
    );

    const wasPaid = await held(200);
    const settled = await resolve(wasPaid.started.id, {
      outcome: 'paid',
      receipt: 'TK7STATEMT',
      reviewedBy: OPERATOR,
      note: 'M-PESA statement: paid, receipt TK7STATEMT.',
    });
    expect(settled.status).toBe(200);
    expect(settled.body).toMatchObject({ status: 'succeeded', receipt: 'TK7STATEMT', resolution: 'paid' });
    expect(await balance(wasPaid.u.id)).toBe(700);
    expect(await outcomes(wasPaid.started.id)).toEqual(['withdrawal_settle']);
    expect(await api.lastSms(wasPaid.u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(
      'Deni: Ksh 200 was sent to your M-PESA. Ref TK7STATEMT.',
    );
    expect(await smsCount(wasPaid.u.phoneNumber, 'mpesa.withdrawal_unconfirmed')).toBe(0);
  });

  it("settles it when M-PESA's verdict comes after all, once, and never pays it twice", async () => {
    const { u, started } = await held(400);
    const answer = statusResult(
      { id: started.id, amount: 400, conversationId: started.conversationId },
      'Completed',
      'TK8LATEANS',
    );
    expect((await postStatusResult(started.id, answer)).statusCode).toBe(200);
    expect(await payment(started.id)).toMatchObject({
      status: 'succeeded',
      resultCode: 0,
      resultDesc: 'Transaction status: Completed',
      receipt: 'TK8LATEANS',
    });
    expect(await balance(u.id)).toBe(500);
    expect(await outcomes(started.id)).toEqual(['withdrawal_settle']);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(
      'Deni: Ksh 400 was sent to your M-PESA. Ref TK8LATEANS.',
    );
    // Ended: an operator can no longer move its money.
    const late = await resolve(started.id, { outcome: 'not_paid', reviewedBy: OPERATOR, note: 'Too late.' });
    expect(late.status).toBe(409);
    expect(await balance(u.id)).toBe(500);
  });

  it('finishes as paid a withdrawal the ledger settled but whose payment was never updated, rather than holding it', async () => {
    const u = await app.get(UsersService).findOrRegister(uniquePhone());
    await app.get(LoansService).receiveDeposit({ userId: u.id, amount: 900, reference: `MP-${u.phoneNumber}` });
    sim.setOutcome(u.phoneNumber, 'no_callback');
    const started = await app.get(WithdrawalService).withdraw(u.id, 600);
    // M-PESA's success settled in the ledger, then the process stopped before the payment's update.
    await app.get(WalletService).settleWithdrawal(started.id);

    const done = await eventually(
      () => payment(started.id),
      (p) => p.status !== 'pending',
      15_000,
    );
    expect(done).toMatchObject({
      status: 'succeeded',
      needsReview: false,
      resultDesc: 'Paid: settled in the ledger before this payment was updated',
    });
    expect(await balance(u.id)).toBe(300);
    expect(await outcomes(started.id)).toEqual(['withdrawal_settle']);
  });
});

describe('a withdrawal Daraja never acknowledges, past MPESA_RECONCILE_MAX_AGE_MS', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let sim: DarajaSimulator;
  let db: DataSource;

  beforeAll(async () => {
    const port = await freePort();
    ({ app, daraja: sim } = await startTestApp({
      MPESA_CALLBACK_BASE_URL: `http://127.0.0.1:${port}`,
      MPESA_CALLBACK_SECRET: SECRET,
      // The answer to the one Transaction Status question comes a second after it (the simulator's
      // delay); the next run, which gives up without a verdict, comes 2.5 s after it at the earliest.
      MPESA_RECONCILE_AFTER_MS: '2500',
      MPESA_RECONCILE_MAX_AGE_MS: '4000',
      // Its first test is about giving the money back; the others end before the last resort.
      MPESA_RECONCILE_LAST_RESORT: 'release',
    }));
    await app.listen(port, '127.0.0.1');
    api = new ApiClient(app);
    db = app.get(DataSource);
  });
  afterAll(() => app?.close());

  const { payment, balance } = ledgerChecks(() => app);
  async function funded(amount: number) {
    const u = await app.get(UsersService).findOrRegister(uniquePhone());
    await app.get(LoansService).receiveDeposit({ userId: u.id, amount, reference: `MP-${u.phoneNumber}` });
    return u;
  }

  it('stops re-sending it, asks Transaction Status, and with no verdict gives the money back, flagged, with an SMS that says so honestly', async () => {
    const u = await funded(900);
    // Daraja refuses every B2C request for this number: never acknowledged, never queued.
    sim.injectFault({ path: B2C_REQUEST, kind: 'status', status: 500, times: 1_000, phoneNumber: u.phoneNumber });
    const started = await app.get(WithdrawalService).withdraw(u.id, 500);
    expect(started).toMatchObject({ status: 'requested', conversationId: null });
    expect(await balance(u.id)).toBe(400);

    const done = await eventually(
      () => payment(started.id),
      (p) => p.status === 'failed',
      20_000,
    );
    expect(done).toMatchObject({ status: 'failed', resultCode: null, needsReview: true, conversationId: null });
    expect(done.resultDesc).toMatch(
      /^OUTCOME UNKNOWN: M-PESA never acknowledged the request and Transaction Status gave no verdict in \d+ s \(\d+ reconciliation attempts, 1 status queries\); hold released, check the M-PESA statement$/,
    );
    // Given back only MPESA_RECONCILE_AFTER_MS after the one question Daraja accepted, for its answer.
    expect(done).toMatchObject({ statusQueries: 1, acknowledgedAt: null });
    expect(done.completedAt!.getTime() - done.statusQueriedAt!.getTime()).toBeGreaterThanOrEqual(2_500);
    // Re-sent with the same OriginatorConversationID until the maximum age, then asked about once, never sent again.
    const sends = requestsWith(sim, B2C_REQUEST, 'PartyB', u.phoneNumber);
    expect(sends.length).toBeGreaterThan(1);
    expect(new Set(sends.map((r) => (r.body as Record<string, unknown>).OriginatorConversationID))).toEqual(
      new Set([started.id]),
    );
    const asked = requestsWith(sim, STATUS_QUERY, 'OriginatorConversationID', started.id);
    expect(asked).toHaveLength(1);
    expect(asked[0].at.getTime()).toBeGreaterThanOrEqual(sends[sends.length - 1].at.getTime());
    // M-PESA's answer: it knows no such transaction (the simulator never took it), which settles nothing.
    await eventually(
      () => sim.callbacks.filter((c) => c.kind === 'transaction_status' && c.url.includes(started.id)),
      (sent) => sent.length === 1 && sent[0].status === 200 && sent[0].text.includes('cannot be found'),
    );
    expect(await payment(started.id)).toMatchObject({ status: 'failed', needsReview: true });
    expect(await balance(u.id)).toBe(900);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_unconfirmed')).toBe(unconfirmedSms(500));
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_failed')).toBeUndefined();
    const flagged = await api.call('GET', `/api/admin/mpesa/payments?needsReview=true&phoneNumber=${u.phoneNumber}`, {
      admin: true,
    });
    expect(flagged.body).toEqual([expect.objectContaining({ id: started.id, status: 'failed', needsReview: true })]);
  });

  it('asks Transaction Status instead of re-sending it, and settles it when M-PESA did pay', async () => {
    const u = await funded(900);
    // Paid, and the result lost.
    sim.setOutcome(u.phoneNumber, 'lost_callback');
    const started = await app.get(WithdrawalService).withdraw(u.id, 400);
    // As if Deni had stopped before recording the acknowledgement, and a minute had gone by since.
    const [, changed] = await db.query<[unknown, number]>(
      `UPDATE mpesa_payments SET status = 'requested', conversation_id = NULL, response = NULL, created_at = now() - interval '1 minute', updated_at = now()
       WHERE id = $1 AND status = 'pending'`,
      [started.id],
    );
    expect(changed).toBe(1);

    const done = await eventually(
      () => payment(started.id),
      (p) => p.status === 'succeeded' || p.status === 'failed',
      20_000,
    );
    expect(done).toMatchObject({
      status: 'succeeded',
      resultCode: 0,
      resultDesc: 'Transaction status: Completed',
      needsReview: false,
    });
    expect(done.receipt).toMatch(/^[A-Z0-9]{10}$/);
    expect(requestsWith(sim, B2C_REQUEST, 'OriginatorConversationID', started.id)).toHaveLength(1);
    expect(requestsWith(sim, STATUS_QUERY, 'OriginatorConversationID', started.id).length).toBeGreaterThan(0);
    expect(await balance(u.id)).toBe(500);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(
      `Deni: Ksh 400 was sent to your M-PESA. Ref ${done.receipt}.`,
    );
  });

  /**
   * A withdrawal Daraja refuses every send of (never acknowledged, no ConversationID), past the
   * maximum age and asked about once: the ConversationID Daraja gave that question, as recorded.
   */
  async function askedOnce(amount: number) {
    const u = await funded(900);
    sim.injectFault({ path: B2C_REQUEST, kind: 'status', status: 500, times: 1_000, phoneNumber: u.phoneNumber });
    const started = await app.get(WithdrawalService).withdraw(u.id, amount);
    expect(started).toMatchObject({ status: 'requested', conversationId: null });
    const asked = await eventually(
      () => payment(started.id),
      (p) => p.statusQueries > 0,
      20_000,
    );
    expect(asked).toMatchObject({ status: 'pending', conversationId: null, acknowledgedAt: null, statusQueries: 1 });
    expect(asked.statusQueryConversationIds).toEqual([expect.stringMatching(/^AG_/)]);
    return { u, started, queryConversationId: asked.statusQueryConversationIds![0] };
  }
  /** Safaricom's sample as published (Daraja's own OriginatorConversationID), answering the question `queryConversationId`. */
  function sampleAnswering(queryConversationId: string, amount: number, transactionStatus: string, receipt: string) {
    const body = statusResult(
      { id: null, amount, conversationId: 'AG_20180223_000041b09c22e613d6c9' },
      transactionStatus,
      receipt,
    );
    body.Result.ConversationID = queryConversationId;
    return body;
  }
  const postStatusResult = (id: string, body: unknown) =>
    app.inject({
      method: 'POST',
      url: `/api/mpesa/callbacks/${SECRET}/b2c/status/${id}/result`,
      payload: body as Record<string, unknown>,
    });

  it("settles a never-acknowledged withdrawal by a status answer that carries the ConversationID of Deni's own question, not Deni's OriginatorConversationID", async () => {
    const { u, started, queryConversationId } = await askedOnce(500);
    const body = sampleAnswering(queryConversationId, 500, 'Completed', 'TK5QUERYID1');
    expect(body.Result.ResultParameters!.ResultParameter.find((p) => p.Key === 'OriginatorConversationID')?.Value).toBe(
      '3211-416020-3',
    );
    expect((await postStatusResult(started.id, body)).statusCode).toBe(200);
    const done = await payment(started.id);
    expect(done).toMatchObject({
      status: 'succeeded',
      resultCode: 0,
      resultDesc: 'Transaction status: Completed',
      receipt: 'TK5QUERYID1',
      needsReview: false,
      unmatchedStatusAnswer: null,
    });
    expect(await balance(u.id)).toBe(400);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(
      'Deni: Ksh 500 was sent to your M-PESA. Ref TK5QUERYID1.',
    );
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_unconfirmed')).toBeUndefined();
  });

  it('keeps the money held past the maximum age after a decisive answer it cannot match, flagged; /reviewed refuses it, /resolve ends it', async () => {
    const { u, started } = await askedOnce(300);
    // "Completed", but answering no question of ours, about nothing we can recognise.
    const stray = sampleAnswering('AG_20180223_0000493344ae97d86f75', 300, 'Completed', 'TK5STRAY01');
    expect((await postStatusResult(started.id, stray)).statusCode).toBe(200);
    const flagged = await payment(started.id);
    expect(flagged).toMatchObject({ status: 'pending', needsReview: true, receipt: null, completedAt: null });
    expect(flagged.unmatchedStatusAnswer).toBe(
      'Transaction Status said Completed about ConversationID AG_20180223_000041b09c22e613d6c9, OriginatorConversationID 3211-416020-3, amount 300, receipt TK5STRAY01 (answering question AG_20180223_0000493344ae97d86f75)',
    );
    expect(flagged.resultDesc).toBe(
      `UNMATCHED STATUS ANSWER: ${flagged.unmatchedStatusAnswer}; not matched to this withdrawal, money still held (never given back without an operator): resolve it from the M-PESA statement`,
    );

    // Runs go on asking (an answer that does match would still end it), but never give the money back.
    const later = await eventually(
      () => payment(started.id),
      (p) => p.statusQueries >= 3,
      20_000,
    );
    expect(later).toMatchObject({ status: 'pending', needsReview: true, completedAt: null });
    expect(Date.now() - later.createdAt.getTime()).toBeGreaterThan(4_000 + 2 * 2_500);
    expect(await balance(u.id)).toBe(600);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_unconfirmed')).toBeUndefined();

    // Marking it reviewed would hide it with its money held: refused, pointing to /resolve.
    const review = { note: 'Looked at it.', reviewedBy: 'Achieng (finance ops)' };
    const reviewed = await api.call('POST', `/api/admin/mpesa/payments/${started.id}/reviewed`, {
      admin: true,
      body: review,
    });
    expect(reviewed.status).toBe(409);
    expect(reviewed.body).toMatchObject({
      code: 'MPESA.WITHDRAWAL_STILL_HELD',
      details: { id: started.id, status: 'pending' },
    });
    expect((reviewed.body as { message: string }).message).toContain('/api/admin/mpesa/payments/:id/resolve');
    expect(await payment(started.id)).toMatchObject({ needsReview: true, reviewedAt: null });

    const resolved = await api.call('POST', `/api/admin/mpesa/payments/${started.id}/resolve`, {
      admin: true,
      body: {
        outcome: 'not_paid',
        reviewedBy: 'Achieng (finance ops)',
        note: 'M-PESA statement: no payment to this number.',
      },
    });
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({
      status: 'failed',
      needsReview: false,
      resolvedBy: 'Achieng (finance ops)',
      resolution: 'not_paid',
    });
    expect(await balance(u.id)).toBe(900);
    // Reviewing it once ended is no longer needed.
    expect(
      (await api.call('POST', `/api/admin/mpesa/payments/${started.id}/reviewed`, { admin: true, body: review })).body,
    ).toMatchObject({ code: 'MPESA.REVIEW_NOT_NEEDED' });
  }, 60_000);

  // Last: Transaction Status requests name no phone number, so this fault is for every one of them.
  it('keeps the money held while Transaction Status cannot be asked, flags it for an operator at twice the maximum age, and gives it back only after a question got through', async () => {
    const u = await funded(900);
    sim.injectFault({ path: B2C_REQUEST, kind: 'status', status: 500, times: 1_000, phoneNumber: u.phoneNumber });
    sim.injectFault({ path: STATUS_QUERY, kind: 'status', status: 503, times: 100_000 });
    const started = await app.get(WithdrawalService).withdraw(u.id, 600);
    expect(started.status).toBe('requested');

    // Past the maximum age (4 s) it is no longer sent, and asked about instead, in vain: no answer
    // at all is no reason to give the money back. At twice that age an operator is called.
    const flagged = await eventually(
      () => payment(started.id),
      (p) => p.needsReview,
      30_000,
    );
    expect(flagged).toMatchObject({
      status: 'pending',
      resultCode: null,
      statusQueries: 0,
      statusQueriedAt: null,
      completedAt: null,
    });
    expect(flagged.resultDesc).toMatch(
      /^OUTCOME UNKNOWN: M-PESA never acknowledged the request in \d+ s and Transaction Status could not be asked \(\d+ reconciliation attempts; last: M-PESA transaction_status: .+\); money still held, an operator decides$/,
    );
    expect(flagged.updatedAt.getTime() - flagged.createdAt.getTime()).toBeGreaterThanOrEqual(8_000);
    // Asked on more than one run (three attempts each: a query is retried on 503).
    expect(requestsWith(sim, STATUS_QUERY, 'OriginatorConversationID', started.id).length).toBeGreaterThanOrEqual(6);
    expect(sim.callbacks.filter((c) => c.url.includes(started.id))).toEqual([]);
    expect(await balance(u.id)).toBe(300);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_unconfirmed')).toBeUndefined();
    const listed = await api.call('GET', `/api/admin/mpesa/payments?needsReview=true&phoneNumber=${u.phoneNumber}`, {
      admin: true,
    });
    expect(listed.body).toEqual([expect.objectContaining({ id: started.id, status: 'pending', needsReview: true })]);

    // Daraja takes questions again: asked, its answer (no such transaction) gives no verdict, and
    // only then, MPESA_RECONCILE_AFTER_MS after that question, the money goes back.
    sim.clearFaults(STATUS_QUERY);
    const done = await eventually(
      () => payment(started.id),
      (p) => p.status === 'failed',
      30_000,
    );
    expect(done).toMatchObject({ status: 'failed', resultCode: null, needsReview: true, statusQueries: 1 });
    expect(done.resultDesc).toMatch(
      /^OUTCOME UNKNOWN: M-PESA never acknowledged the request and Transaction Status gave no verdict in \d+ s \(\d+ reconciliation attempts, 1 status queries\); hold released, check the M-PESA statement$/,
    );
    expect(done.completedAt!.getTime() - done.statusQueriedAt!.getTime()).toBeGreaterThanOrEqual(2_500);
    expect(sim.callbacks.filter((c) => c.kind === 'transaction_status' && c.url.includes(started.id))).toHaveLength(1);
    expect(await balance(u.id)).toBe(900);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_unconfirmed')).toBe(unconfirmedSms(600));
  }, 90_000);
});

describe('an operator ending a withdrawal held with its outcome unknown (POST /api/admin/mpesa/payments/:id/resolve)', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let sim: DarajaSimulator;
  let db: DataSource;
  let callbackBase: string;

  beforeAll(async () => {
    const port = await freePort();
    callbackBase = `http://127.0.0.1:${port}`;
    // Reconciliation waits its default 3 minutes: nothing but the test (and the operator) ends these withdrawals.
    ({ app, daraja: sim } = await startTestApp({
      MPESA_CALLBACK_BASE_URL: callbackBase,
      MPESA_CALLBACK_SECRET: SECRET,
      ADMIN_API_KEY: ADMIN_KEY,
    }));
    await app.listen(port, '127.0.0.1');
    api = new ApiClient(app);
    db = app.get(DataSource);
  });
  afterAll(() => app?.close());

  const OPERATOR = 'Wanjiku (finance ops)';
  const { payment, balance, smsCount, outcomes } = ledgerChecks(() => app);
  const postCallback = (path: string, body: unknown) =>
    fetch(`${callbackBase}/api/mpesa/callbacks/${SECRET}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const resolve = (id: string, body: Record<string, unknown>) =>
    api.call('POST', `/api/admin/mpesa/payments/${id}/resolve`, { admin: true, body });
  const paid = (receipt: string, reviewedBy = OPERATOR) => ({
    outcome: 'paid',
    receipt,
    reviewedBy,
    note: `M-PESA statement: paid, receipt ${receipt}.`,
  });
  const notPaid = (reviewedBy = OPERATOR) => ({
    outcome: 'not_paid',
    reviewedBy,
    note: 'M-PESA statement: no such payment.',
  });

  /** Daraja's B2C result (Safaricom's published samples) for one withdrawal: paid with `receipt`, or failed (2001) when null. */
  function b2cResult(w: MpesaPayment, receipt: string | null) {
    const body = published<{
      Result: Record<string, unknown> & { ResultParameters?: { ResultParameter: { Key: string; Value: unknown }[] } };
    }>(receipt ? 'daraja-b2c-result-success.json' : 'daraja-b2c-result-failure.json');
    Object.assign(body.Result, {
      OriginatorConversationID: w.originatorConversationId,
      ConversationID: w.conversationId,
      ...(receipt ? { TransactionID: receipt } : {}),
    });
    if (receipt) {
      body.Result.ResultParameters!.ResultParameter = body.Result.ResultParameters!.ResultParameter.map((p) =>
        p.Key === 'TransactionReceipt'
          ? { Key: p.Key, Value: receipt }
          : p.Key === 'TransactionAmount'
            ? { Key: p.Key, Value: w.amount }
            : p.Key === 'ReceiverPartyPublicName'
              ? { Key: p.Key, Value: `${w.phoneNumber} - JOHN DOE` }
              : p,
      );
    }
    return body;
  }

  /**
   * A withdrawal of `amount` from a wallet of 900 that Daraja acknowledged and will never answer
   * for, its money held, flagged the way reconciliation flags it when Transaction Status cannot be
   * asked for twice MPESA_RECONCILE_MAX_AGE_MS (that flagging itself is tested above).
   */
  async function stuck(amount: number) {
    const u = await app.get(UsersService).findOrRegister(uniquePhone());
    await app.get(LoansService).receiveDeposit({ userId: u.id, amount: 900, reference: `MP-${u.phoneNumber}` });
    sim.setOutcome(u.phoneNumber, 'no_callback');
    const w = await app.get(WithdrawalService).withdraw(u.id, amount);
    expect(w).toMatchObject({ status: 'pending', conversationId: expect.stringMatching(/^AG_/) as unknown });
    await db.query(
      `UPDATE mpesa_payments SET needs_review = true, result_desc = 'OUTCOME UNKNOWN: no result from M-PESA 48.0 h after it acknowledged the request and Transaction Status could not be asked (960 reconciliation attempts; last: M-PESA transaction_status: HTTP 503); money still held, an operator decides'
       WHERE id = $1`,
      [w.id],
    );
    expect(await balance(u.id)).toBe(900 - amount);
    return { u, w: await payment(w.id) };
  }

  it('refuses without the admin key, unknown ids, bad bodies, and anything but a pending withdrawal with money held, moving nothing', async () => {
    const { u, w } = await stuck(300);
    const path = `/api/admin/mpesa/payments/${w.id}/resolve`;
    for (const headers of [{}, { 'x-api-key': 'wrong-key-0123456789' }]) {
      const refused = await app.inject({ method: 'POST', url: path, headers, payload: paid('TK8PLW3ZQA') });
      expect(refused.statusCode).toBe(401);
      expect(refused.json()).toMatchObject({ code: 'AUTH.ADMIN_KEY_REQUIRED' });
    }
    const good = paid('TK8PLW3ZQA');
    for (const bad of [
      {},
      { ...good, outcome: 'maybe' },
      { ...good, outcome: undefined },
      { ...good, receipt: undefined }, // paid needs the receipt
      { ...good, receipt: 'TK-8PLW' },
      { ...good, receipt: 'x'.repeat(33) },
      { ...good, reviewedBy: ' ' },
      { ...good, note: undefined },
      { ...good, note: 'x'.repeat(1_001) },
      { ...good, amount: 300 },
    ]) {
      const res = await resolve(w.id, bad);
      expect({ bad, status: res.status }).toEqual({ bad, status: 400 });
    }
    const receiptWithNotPaid = await resolve(w.id, { ...notPaid(), receipt: 'TK8PLW3ZQA' });
    expect(receiptWithNotPaid.status).toBe(422);
    expect(receiptWithNotPaid.body).toMatchObject({ code: 'MPESA.BAD_RESOLUTION' });
    for (const unknown of ['00000000-0000-4000-8000-000000000000', 'not-a-payment']) {
      const res = await resolve(unknown, notPaid());
      expect(res.status).toBe(404);
      expect(res.body).toMatchObject({ code: 'MPESA.PAYMENT_NOT_FOUND' });
    }

    // Not resolvable: a withdrawal M-PESA already ended, and a top-up.
    const other = await app.get(UsersService).findOrRegister(uniquePhone());
    await app.get(LoansService).receiveDeposit({ userId: other.id, amount: 900, reference: `MP-${other.phoneNumber}` });
    const ended = await app.get(WithdrawalService).withdraw(other.id, 100);
    await eventually(
      () => payment(ended.id),
      (p) => p.status === 'succeeded',
      15_000,
    );
    sim.setOutcome(other.phoneNumber, 'no_callback');
    const topUp = await app.get(TopUpService).startTopUp(other.id, 100);
    expect(topUp.status).toBe('pending');
    for (const id of [ended.id, topUp.id]) {
      const res = await resolve(id, notPaid());
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ code: 'MPESA.NOT_RESOLVABLE', details: { id } });
    }
    expect(await payment(ended.id)).toMatchObject({ status: 'succeeded', reviewedBy: null });
    expect(await balance(other.id)).toBe(800);

    // Pending with its money held but not flagged (just acknowledged: M-PESA may still answer, the
    // statement may not show it yet): not the operator's to end yet.
    sim.setOutcome(other.phoneNumber, 'no_callback');
    const early = await app.get(WithdrawalService).withdraw(other.id, 200);
    expect(early).toMatchObject({ status: 'pending', needsReview: false });
    for (const resolution of [notPaid(), paid('TK8EARLY01')]) {
      const res = await resolve(early.id, resolution);
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ code: 'MPESA.NOT_RESOLVABLE', details: { id: early.id, status: 'pending' } });
      expect((res.body as { message: string }).message).toMatch(/not flagged for review \(needsReview\)/);
    }
    expect(await payment(early.id)).toMatchObject({ status: 'pending', reviewedBy: null, resolvedAt: null });
    expect(await outcomes(early.id)).toEqual([]);
    expect(await balance(other.id)).toBe(600);

    expect(await payment(w.id)).toMatchObject({
      status: 'pending',
      needsReview: true,
      reviewedBy: null,
      reviewNote: null,
    });
    expect(await outcomes(w.id)).toEqual([]);
    expect(await balance(u.id)).toBe(600);
  });

  it("paid: settles the hold, records who, when and the receipt, tells the user; M-PESA's late success is a duplicate, its late failure flags a contradiction, nothing moves twice", async () => {
    const { u, w } = await stuck(400);
    const before = Date.now();
    const res = await resolve(w.id, paid('tk8plw3zqa'));
    expect(res.status).toBe(200);
    const resultDesc = 'RESOLVED BY OPERATOR as paid (receipt TK8PLW3ZQA): hold settled';
    expect(res.body).toMatchObject({
      id: w.id,
      status: 'succeeded',
      receipt: 'TK8PLW3ZQA',
      resultCode: null,
      resultDesc,
      needsReview: false,
      reviewedBy: OPERATOR,
      reviewNote: 'M-PESA statement: paid, receipt tk8plw3zqa.',
    });
    expect(res.body).not.toHaveProperty('request');
    const done = await payment(w.id);
    expect(done.reviewedAt!.getTime()).toBeGreaterThanOrEqual(before - 5_000);
    expect(done).toMatchObject({ resolvedBy: OPERATOR, resolution: 'paid' });
    expect(done.resolvedAt!.getTime()).toBeGreaterThanOrEqual(before - 5_000);
    expect(done.completedAt).toBeInstanceOf(Date);
    expect(await outcomes(w.id)).toEqual(['withdrawal_settle']);
    expect(await balance(u.id)).toBe(500);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(
      'Deni: Ksh 400 was sent to your M-PESA. Ref TK8PLW3ZQA.',
    );
    const listed = await api.call('GET', `/api/admin/mpesa/payments?needsReview=true&phoneNumber=${u.phoneNumber}`, {
      admin: true,
    });
    expect(listed.body).toEqual([]);

    // Again, either way: 409, nothing changes.
    for (const again of [paid('TK8PLW3ZQA', 'Otieno'), notPaid('Otieno')]) {
      const conflict = await resolve(w.id, again);
      expect(conflict.status).toBe(409);
      expect(conflict.body).toMatchObject({ code: 'MPESA.NOT_RESOLVABLE', details: { id: w.id, status: 'succeeded' } });
    }

    // M-PESA's own result after all, saying the same: a duplicate.
    expect((await postCallback('b2c/result', b2cResult(w, 'TK8PLW3ZQA'))).status).toBe(200);
    expect(
      (
        await postCallback(
          `b2c/status/${w.id}/result`,
          statusResult({ id: w.id, amount: 400, conversationId: w.conversationId }, 'Completed', 'TK8PLW3ZQA'),
        )
      ).status,
    ).toBe(200);
    expect(await payment(w.id)).toMatchObject({
      status: 'succeeded',
      needsReview: false,
      resultDesc,
      reviewedBy: OPERATOR,
    });

    // Then M-PESA says it did not pay: the operator's word is contradicted. Flagged (once), nothing moves.
    for (let i = 0; i < 2; i += 1) {
      expect(
        (
          await postCallback(
            `b2c/status/${w.id}/result`,
            statusResult({ id: w.id, amount: 400, conversationId: w.conversationId }, 'Failed'),
          )
        ).status,
      ).toBe(200);
    }
    expect((await postCallback('b2c/timeout', b2cResult(w, null))).status).toBe(200);
    const contradicted = await payment(w.id);
    expect(contradicted).toMatchObject({
      status: 'succeeded',
      needsReview: true,
      receipt: 'TK8PLW3ZQA',
      reviewedBy: OPERATOR,
    });
    expect(contradicted.resultDesc).toBe(
      `${resultDesc}; CONTRADICTED BY M-PESA: M-PESA then said it did not pay (Transaction status: Failed); the hold was settled as paid on ${OPERATOR}'s word, the user may not have the money; needs an operator`,
    );
    expect(await outcomes(w.id)).toEqual(['withdrawal_settle']);
    expect(await balance(u.id)).toBe(500);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(1);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_failed')).toBe(0);
  });

  it("not_paid: gives the money back and tells the user; M-PESA's late failure is a duplicate, its late success is flagged paid after release, nothing moves twice", async () => {
    const { u, w } = await stuck(500);
    const res = await resolve(w.id, notPaid());
    expect(res.status).toBe(200);
    const resultDesc = 'RESOLVED BY OPERATOR as not paid: hold released';
    expect(res.body).toMatchObject({
      id: w.id,
      status: 'failed',
      receipt: null,
      resultCode: null,
      resultDesc,
      needsReview: false,
      reviewedBy: OPERATOR,
      reviewNote: 'M-PESA statement: no such payment.',
      resolvedBy: OPERATOR,
      resolution: 'not_paid',
    });
    expect(await outcomes(w.id)).toEqual(['withdrawal_release']);
    expect(await balance(u.id)).toBe(900);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_failed')).toBe(
      'Deni: your withdrawal of Ksh 500 did not go through. The money is back in your wallet.',
    );
    expect((await resolve(w.id, notPaid('Otieno'))).body).toMatchObject({ code: 'MPESA.NOT_RESOLVABLE' });

    // M-PESA agrees (a failure, a queue timeout): duplicates.
    expect((await postCallback('b2c/result', b2cResult(w, null))).status).toBe(200);
    expect((await postCallback('b2c/timeout', b2cResult(w, null))).status).toBe(200);
    expect(await payment(w.id)).toMatchObject({ status: 'failed', needsReview: false, resultDesc });

    // M-PESA says it paid: the user has the money twice. Flagged, never settled.
    expect((await postCallback('b2c/result', b2cResult(w, 'SG632LATE1'))).status).toBe(200);
    const flagged = {
      status: 'failed',
      needsReview: true,
      receipt: 'SG632LATE1',
      resultDesc: `PAID AFTER RELEASE (receipt SG632LATE1), after it was RESOLVED BY OPERATOR (${OPERATOR}) as not paid: needs an operator`,
    };
    expect(await payment(w.id)).toMatchObject(flagged);
    // The same answer again (Transaction Status this time) says the same.
    expect(
      (
        await postCallback(
          `b2c/status/${w.id}/result`,
          statusResult({ id: w.id, amount: 500, conversationId: w.conversationId }, 'Completed', 'SG632LATE1'),
        )
      ).status,
    ).toBe(200);
    expect(await payment(w.id)).toMatchObject(flagged);
    expect(await outcomes(w.id)).toEqual(['withdrawal_release']);
    expect(await balance(u.id)).toBe(900);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_failed')).toBe(1);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(0);
  });

  it("never reports the last resort's own release as M-PESA contradicting an operator who resolved the withdrawal in the same run", async () => {
    const { u, w } = await stuck(400);
    expect((await resolve(w.id, paid('TK8LASTRES'))).status).toBe(200);
    // The last resort had read the withdrawal still pending: its release comes second. (White-box:
    // the race is between two writes within one reconciliation run.)
    const service = app.get(WithdrawalService);
    expect(
      await service.closeB2c(w.id, false, null, 'OUTCOME UNKNOWN: test; hold released, check the M-PESA statement', {
        needsReview: true,
        unconfirmed: true,
      }),
    ).toBe(false);
    expect(await payment(w.id)).toMatchObject({
      status: 'succeeded',
      needsReview: false,
      resultDesc: 'RESOLVED BY OPERATOR as paid (receipt TK8LASTRES): hold settled',
      resolution: 'paid',
    });
    expect(await outcomes(w.id)).toEqual(['withdrawal_settle']);
    expect(await balance(u.id)).toBe(500);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_unconfirmed')).toBe(0);
  });

  it("knows an operator's resolution by its own columns, not by a description a callback can imitate", async () => {
    const { u, w } = await stuck(300);
    // A failure whose ResultDesc reads like a resolution (a forged callback, or an odd description).
    const failure = b2cResult(w, null);
    failure.Result.ResultDesc = 'RESOLVED BY OPERATOR as not paid: hold released';
    expect((await postCallback('b2c/result', failure)).status).toBe(200);
    expect(await payment(w.id)).toMatchObject({
      status: 'failed',
      resultDesc: 'RESOLVED BY OPERATOR as not paid: hold released',
      resolvedAt: null,
      resolvedBy: null,
      resolution: null,
    });
    // Then M-PESA says it paid: paid after release, naming no operator.
    expect((await postCallback('b2c/result', b2cResult(w, 'SG632FORGE'))).status).toBe(200);
    expect(await payment(w.id)).toMatchObject({
      status: 'failed',
      needsReview: true,
      receipt: 'SG632FORGE',
      resultDesc: 'PAID AFTER RELEASE (receipt SG632FORGE): needs an operator',
      resolution: null,
    });
    expect(await outcomes(w.id)).toEqual(['withdrawal_release']);
    expect(await balance(u.id)).toBe(900);
  });

  it('ends with one outcome when two operators resolve at once, the same way or opposite ways', async () => {
    for (const [first, second] of [
      [paid('TK1RACE001', 'Achieng'), notPaid('Otieno')],
      [notPaid('Achieng'), notPaid('Otieno')],
      [paid('TK1RACE002', 'Achieng'), paid('TK1RACE002', 'Otieno')],
    ]) {
      const { u, w } = await stuck(300);
      const answers = await Promise.all([resolve(w.id, first), resolve(w.id, second)]);
      expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
      const loser = answers.find((a) => a.status === 409)!;
      expect(loser.body).toMatchObject({ code: 'MPESA.NOT_RESOLVABLE' });
      const winner = answers.find((a) => a.status === 200)!.body as { status: string; reviewedBy: string };
      const won = winner.reviewedBy === 'Achieng' ? first : second;
      const row = await payment(w.id);
      expect(row).toMatchObject({
        status: won.outcome === 'paid' ? 'succeeded' : 'failed',
        reviewedBy: winner.reviewedBy,
        needsReview: false,
      });
      expect(await outcomes(w.id)).toEqual([won.outcome === 'paid' ? 'withdrawal_settle' : 'withdrawal_release']);
      expect(await balance(u.id)).toBe(won.outcome === 'paid' ? 600 : 900);
      expect(
        (await smsCount(u.phoneNumber, 'mpesa.withdrawal_sent')) +
          (await smsCount(u.phoneNumber, 'mpesa.withdrawal_failed')),
      ).toBe(1);
    }
  });

  it("ends with one outcome when an operator resolves just as M-PESA's late answer comes", async () => {
    for (const [resolution, mpesaPaid] of [
      [notPaid(), true],
      [paid('TK2RACE001'), false],
      [paid('TK2RACE002'), true],
      [notPaid(), false],
    ] as const) {
      const { u, w } = await stuck(300);
      const receipt = mpesaPaid ? ('receipt' in resolution ? resolution.receipt : 'SG632RACE1') : null;
      const [operator, callback] = await Promise.all([
        resolve(w.id, resolution),
        postCallback('b2c/result', b2cResult(w, receipt)),
      ]);
      expect(callback.status).toBe(200);
      const row = await payment(w.id);
      const ledger = await outcomes(w.id);
      expect(ledger).toHaveLength(1);
      if (operator.status === 200) {
        // The operator first: M-PESA's answer came second, a duplicate or a flagged contradiction.
        expect(ledger).toEqual([resolution.outcome === 'paid' ? 'withdrawal_settle' : 'withdrawal_release']);
        expect(row.resultDesc).toMatch(
          resolution.outcome === 'paid'
            ? /^RESOLVED BY OPERATOR as paid/
            : mpesaPaid
              ? /^PAID AFTER RELEASE .*RESOLVED BY OPERATOR/
              : /^RESOLVED BY OPERATOR as not paid/,
        );
        expect(row.needsReview).toBe((resolution.outcome === 'paid') !== mpesaPaid);
      } else {
        // M-PESA first: its answer is the outcome, the operator is told it is too late.
        expect(operator.status).toBe(409);
        expect(operator.body).toMatchObject({ code: 'MPESA.NOT_RESOLVABLE' });
        expect(ledger).toEqual([mpesaPaid ? 'withdrawal_settle' : 'withdrawal_release']);
        expect(row).toMatchObject({
          status: mpesaPaid ? 'succeeded' : 'failed',
          resultCode: mpesaPaid ? 0 : 2001,
          reviewedBy: null,
        });
      }
      expect(await balance(u.id)).toBe(ledger[0] === 'withdrawal_settle' ? 600 : 900);
      expect(
        (await smsCount(u.phoneNumber, 'mpesa.withdrawal_sent')) +
          (await smsCount(u.phoneNumber, 'mpesa.withdrawal_failed')),
      ).toBe(1);
    }
  });
});

describe('B2C results checked against the request', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let sim: DarajaSimulator;

  beforeAll(async () => {
    // Callbacks here go nowhere (MPESA_CALLBACK_BASE_URL is a closed port): the simulator's own
    // results and Transaction Status answers never arrive; the test posts results itself, built
    // from Safaricom's published samples, to Deni's callback route.
    ({ app, daraja: sim } = await startTestApp({
      MPESA_CALLBACK_SECRET: SECRET,
      MPESA_RECONCILE_AFTER_MS: '1000',
      ADMIN_API_KEY: ADMIN_KEY,
    }));
    api = new ApiClient(app);
  });
  afterAll(() => app?.close());

  const OPERATOR = 'Achieng (finance ops)';
  const { payment, balance, smsCount, outcomes } = ledgerChecks(() => app);
  const post = async (path: 'b2c/result' | 'b2c/timeout', body: unknown) =>
    (
      await app.inject({
        method: 'POST',
        url: `/api/mpesa/callbacks/${SECRET}/${path}`,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      })
    ).statusCode;
  async function mismatches(kind: string): Promise<number> {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const line = new RegExp(`^deni_mpesa_callback_mismatch_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text);
    return line ? Number(line[1]) : 0;
  }

  /**
   * Safaricom's B2C result samples made to speak of one withdrawal (its OriginatorConversationID
   * and ConversationID): paid (the success sample, claiming by default the requested amount, the
   * requested number as receiver and a fresh receipt), or failed (the failure sample, 2001).
   */
  function b2cResult(
    w: MpesaPayment,
    claims: { paid: boolean; amount?: number; receiver?: string; receipt?: string },
  ): { body: { Result: Record<string, unknown> }; receipt: string } {
    const body = published<{
      Result: Record<string, unknown> & { ResultParameters?: { ResultParameter: { Key: string; Value: unknown }[] } };
    }>(claims.paid ? 'daraja-b2c-result-success.json' : 'daraja-b2c-result-failure.json');
    const receipt = claims.receipt ?? `SG${randomBytes(4).toString('hex').toUpperCase()}`;
    Object.assign(body.Result, {
      OriginatorConversationID: w.originatorConversationId,
      ConversationID: w.conversationId,
      TransactionID: receipt,
    });
    if (claims.paid) {
      const values: Record<string, unknown> = {
        TransactionAmount: claims.amount ?? w.amount,
        TransactionReceipt: receipt,
        ReceiverPartyPublicName: `${claims.receiver ?? w.phoneNumber} - JOHN DOE`,
      };
      body.Result.ResultParameters!.ResultParameter = body.Result.ResultParameters!.ResultParameter.map((p) =>
        p.Key in values ? { Key: p.Key, Value: values[p.Key] } : p,
      );
    }
    return { body, receipt };
  }

  /** A withdrawal of `amount` from a wallet of 900 that Daraja acknowledged; its result is the test's to post. */
  async function acknowledged(amount: number) {
    const u = await app.get(UsersService).findOrRegister(uniquePhone());
    await app.get(LoansService).receiveDeposit({ userId: u.id, amount: 900, reference: `MP-${u.phoneNumber}` });
    sim.setOutcome(u.phoneNumber, 'no_callback');
    const w = await app.get(WithdrawalService).withdraw(u.id, amount);
    expect(w).toMatchObject({ status: 'pending', conversationId: expect.stringMatching(/^AG_/) as unknown });
    expect(await balance(u.id)).toBe(900 - amount);
    return { u, w };
  }

  it('keeps the money held, flagged, when a success claims another amount than requested; a second result is recorded too; reconciliation leaves it to the operator, whose resolution settles it', async () => {
    const { u, w } = await acknowledged(500);
    const [amountBefore, receiptBefore] = [await mismatches('amount'), await mismatches('receipt')];

    const forged = b2cResult(w, { paid: true, amount: 99_999 });
    expect(await post('b2c/result', forged.body)).toBe(200);
    const flagged = await payment(w.id);
    expect(flagged).toMatchObject({ status: 'pending', needsReview: true, completedAt: null });
    expect(flagged.callbackMismatches).toEqual([
      expect.objectContaining({ kinds: ['amount'], resultCode: 0, amount: 99_999, receipt: forged.receipt }),
    ]);
    expect(await mismatches('amount')).toBe(amountBefore + 1);
    expect(await outcomes(w.id)).toEqual([]);
    expect(await balance(u.id)).toBe(400);
    // The same result again is the same record.
    expect(await post('b2c/result', forged.body)).toBe(200);
    expect((await payment(w.id)).callbackMismatches).toHaveLength(1);

    // A second result for the same request, with the requested amount but another receipt: recorded, flagged, held.
    const second = b2cResult(w, { paid: true });
    expect(await post('b2c/result', second.body)).toBe(200);
    const both = await payment(w.id);
    expect(both).toMatchObject({ status: 'pending', needsReview: true });
    expect(both.callbackMismatches).toEqual([
      expect.objectContaining({ kinds: ['amount'], receipt: forged.receipt }),
      expect.objectContaining({ kinds: ['receipt'], receipt: second.receipt, amount: 500 }),
    ]);
    expect(await mismatches('receipt')).toBe(receiptBefore + 1);
    expect(await outcomes(w.id)).toEqual([]);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(0);

    // Reconciliation (every second here) passes over it and neither settles nor releases it.
    const looked = await eventually(
      () => payment(w.id),
      (p) => p.reconcileAttempts >= 2,
      15_000,
    );
    expect(looked).toMatchObject({ status: 'pending', needsReview: true });
    expect(await outcomes(w.id)).toEqual([]);
    expect(await balance(u.id)).toBe(400);

    // Marking it reviewed would hide held money: refused. The operator resolves it from the statement.
    const reviewed = await api.call('POST', `/api/admin/mpesa/payments/${w.id}/reviewed`, {
      admin: true,
      body: { note: 'checked', reviewedBy: OPERATOR },
    });
    expect(reviewed.status).toBe(409);
    expect(reviewed.body).toMatchObject({ code: 'MPESA.WITHDRAWAL_STILL_HELD' });
    const resolved = await api.call('POST', `/api/admin/mpesa/payments/${w.id}/resolve`, {
      admin: true,
      body: { outcome: 'paid', receipt: second.receipt, reviewedBy: OPERATOR, note: 'Statement: Ksh 500 paid.' },
    });
    expect(resolved.status).toBe(200);
    expect(await payment(w.id)).toMatchObject({
      status: 'succeeded',
      receipt: second.receipt,
      needsReview: false,
      resolution: 'paid',
      resolvedBy: OPERATOR,
    });
    expect(await outcomes(w.id)).toEqual(['withdrawal_settle']);
    expect(await balance(u.id)).toBe(400);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(1);
  });

  it('keeps the money held, flagged, when a success names another receiver than the requested number; not_paid gives it back', async () => {
    const { u, w } = await acknowledged(300);
    const before = await mismatches('phone');
    const elsewhere = b2cResult(w, { paid: true, receiver: uniquePhone() });
    expect(await post('b2c/result', elsewhere.body)).toBe(200);
    const flagged = await payment(w.id);
    expect(flagged).toMatchObject({ status: 'pending', needsReview: true });
    expect(flagged.callbackMismatches).toEqual([
      expect.objectContaining({ kinds: ['phone'], resultCode: 0, amount: 300, receipt: elsewhere.receipt }),
    ]);
    expect(await mismatches('phone')).toBe(before + 1);
    expect(await outcomes(w.id)).toEqual([]);
    expect(await balance(u.id)).toBe(600);

    const resolved = await api.call('POST', `/api/admin/mpesa/payments/${w.id}/resolve`, {
      admin: true,
      body: { outcome: 'not_paid', reviewedBy: OPERATOR, note: 'Statement: paid to nobody.' },
    });
    expect(resolved.status).toBe(200);
    expect(await payment(w.id)).toMatchObject({ status: 'failed', resolution: 'not_paid', needsReview: false });
    expect(await outcomes(w.id)).toEqual(['withdrawal_release']);
    expect(await balance(u.id)).toBe(900);
  });

  it('settles a success that matches the request (its receiver masked, or in local form), and releases a failure, as before', async () => {
    const { u, w } = await acknowledged(200);
    const masked = `${w.phoneNumber.slice(0, 4)}****${w.phoneNumber.slice(-3)}`;
    expect(await post('b2c/result', b2cResult(w, { paid: true, receiver: masked }).body)).toBe(200);
    expect(await payment(w.id)).toMatchObject({ status: 'succeeded', needsReview: false, callbackMismatches: [] });
    expect(await outcomes(w.id)).toEqual(['withdrawal_settle']);

    const local = await acknowledged(250);
    const localForm = `0${local.w.phoneNumber.slice(3)}`;
    expect(await post('b2c/result', b2cResult(local.w, { paid: true, receiver: localForm }).body)).toBe(200);
    expect(await payment(local.w.id)).toMatchObject({ status: 'succeeded', needsReview: false });

    const failing = await acknowledged(150);
    expect(await post('b2c/result', b2cResult(failing.w, { paid: false }).body)).toBe(200);
    expect(await payment(failing.w.id)).toMatchObject({ status: 'failed', resultCode: 2001, needsReview: false });
    expect(await outcomes(failing.w.id)).toEqual(['withdrawal_release']);
    expect(await balance(failing.u.id)).toBe(900);
    expect(await balance(u.id)).toBe(700);
  });

  it('records and flags a second result with another receipt, or another outcome, after a settled withdrawal, and moves nothing', async () => {
    const { u, w } = await acknowledged(400);
    const first = b2cResult(w, { paid: true });
    expect(await post('b2c/result', first.body)).toBe(200);
    expect(await payment(w.id)).toMatchObject({ status: 'succeeded', receipt: first.receipt, needsReview: false });
    // The same result again: a duplicate, nothing recorded.
    expect(await post('b2c/result', first.body)).toBe(200);
    expect(await payment(w.id)).toMatchObject({ needsReview: false, callbackMismatches: [] });
    const [receiptBefore, outcomeBefore] = [await mismatches('receipt'), await mismatches('outcome')];

    const other = b2cResult(w, { paid: true });
    expect(await post('b2c/result', other.body)).toBe(200);
    const failure = b2cResult(w, { paid: false });
    expect(await post('b2c/result', failure.body)).toBe(200);
    const after = await payment(w.id);
    expect(after).toMatchObject({ status: 'succeeded', receipt: first.receipt, needsReview: true });
    expect(after.callbackMismatches).toEqual([
      expect.objectContaining({ kinds: ['receipt'], resultCode: 0, receipt: other.receipt }),
      expect.objectContaining({ kinds: ['outcome'], resultCode: 2001 }),
    ]);
    expect(await mismatches('receipt')).toBe(receiptBefore + 1);
    expect(await mismatches('outcome')).toBe(outcomeBefore + 1);
    expect(await outcomes(w.id)).toEqual(['withdrawal_settle']);
    expect(await balance(u.id)).toBe(500);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_sent')).toBe(1);
    expect(await smsCount(u.phoneNumber, 'mpesa.withdrawal_failed')).toBe(0);
    const list = await api.call('GET', '/api/admin/mpesa/payments?needsReview=true', { admin: true });
    expect((list.body as { id: string }[]).map((p) => p.id)).toContain(w.id);
  });

  it('records a success after a failure gave the money back as another outcome, flagged paid after release, settled never', async () => {
    const { u, w } = await acknowledged(350);
    expect(await post('b2c/result', b2cResult(w, { paid: false }).body)).toBe(200);
    expect(await payment(w.id)).toMatchObject({ status: 'failed', needsReview: false });
    expect(await balance(u.id)).toBe(900);
    const late = b2cResult(w, { paid: true });
    expect(await post('b2c/result', late.body)).toBe(200);
    const after = await payment(w.id);
    expect(after).toMatchObject({
      status: 'failed',
      needsReview: true,
      resultDesc: `PAID AFTER RELEASE (receipt ${late.receipt}): needs an operator`,
    });
    expect(after.callbackMismatches).toEqual([
      expect.objectContaining({ kinds: ['outcome'], resultCode: 0, receipt: late.receipt }),
    ]);
    expect(await outcomes(w.id)).toEqual(['withdrawal_release']);
    expect(await balance(u.id)).toBe(900);
  });
});

describe('M-PESA callbacks from outside MPESA_CALLBACK_ALLOWED_IPS', () => {
  it('are refused with 403 before anything is read', async () => {
    const { app } = await startTestApp({
      APP_ROLE: 'api',
      MPESA_CALLBACK_SECRET: SECRET,
      MPESA_CALLBACK_ALLOWED_IPS: '196.201.214.0/24',
    });
    try {
      const outside = await app.inject({
        method: 'POST',
        url: `/api/mpesa/callbacks/${SECRET}/stk`,
        payload: {},
        remoteAddress: '127.0.0.1',
      });
      expect(outside.statusCode).toBe(403);
      expect(outside.json()).toMatchObject({ code: 'MPESA.FORBIDDEN_ADDRESS' });
      const inside = await app.inject({
        method: 'POST',
        url: `/api/mpesa/callbacks/${SECRET}/stk`,
        payload: {},
        remoteAddress: '196.201.214.200',
      });
      expect(inside.statusCode).toBe(422); // allowed in, then refused as unreadable
    } finally {
      await app.close();
    }
  });
});
