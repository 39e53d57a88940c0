import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { LoansService } from '../src/loans/loans.service.js';
import { nairobiTimestamp } from '../src/mpesa/daraja.parsers.js';
import { MpesaPayment } from '../src/mpesa/mpesa-payment.entity.js';
import type { DarajaSimulator, SimulatorOutcome } from '../src/mpesa/simulator/daraja-simulator.js';
import { DarajaSimulatorHost } from '../src/mpesa/simulator/daraja-simulator.host.js';
import { formatLocal } from '../src/users/phone-number.js';
import { UsersService } from '../src/users/users.service.js';
import { WalletService } from '../src/wallet/wallet.service.js';
import { ApiClient } from './support/api-client.js';
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

/** A published Daraja sample, parsed (each call a fresh copy to change). */
function published<T>(name: string): T {
  return JSON.parse(readFileSync(`test/fixtures/providers/${name}`, 'utf8')) as T;
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
    ({ app } = await startTestApp({ MPESA_CALLBACK_BASE_URL: callbackBase, MPESA_CALLBACK_SECRET: SECRET, MPESA_RECONCILE_AFTER_MS: '1000' }));
    await app.listen(port, '127.0.0.1');
    api = new ApiClient(app);
    sim = await app.get(DarajaSimulatorHost).simulator();
    db = app.get(DataSource);
  });
  afterAll(() => app?.close());

  async function user(phoneNumber = uniquePhone(), deposit = 0) {
    const users = app.get(UsersService);
    const u = await users.findOrRegister(phoneNumber);
    await users.createPin(u.id, PIN);
    if (deposit) await app.get(LoansService).receiveDeposit({ userId: u.id, amount: deposit, reference: `MP-${phoneNumber}` });
    return { ...u, token: await api.login(phoneNumber, PIN) };
  }

  const payment = async (id: string) => db.getRepository(MpesaPayment).findOneByOrFail({ id });
  const settled = (id: string) => eventually(() => payment(id), (p) => p.status === 'succeeded' || p.status === 'failed', 15_000);
  const balance = (userId: string) => app.get(WalletService).balance(userId);
  const smsCount = async (phoneNumber: string, template: string) =>
    (await db.query(`SELECT count(*)::int AS n FROM notifications WHERE phone_number = $1 AND template = $2`, [phoneNumber, template]))[0].n as number;
  const transfersWithKey = async (key: string) => (await db.query(`SELECT count(*)::int AS n FROM transfers WHERE idempotency_key = $1`, [key]))[0].n as number;
  const postCallback = (path: string, body: string) =>
    fetch(`${callbackBase}/api/mpesa/callbacks/${SECRET}/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  // Every test leaves the ledger's invariants whole (DESIGN.md §4), whatever it did.
  afterEach(async () => {
    expect(await ledgerViolations(db)).toEqual([]);
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
      const loan = await loans.requestLoan({ borrowerId: borrower.id, lenderPhoneNumber: lender.phoneNumber, amount: 2_000, repaymentPerDeposit: per });
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
      'Ksh 1000 received. Ksh 500 deducted for loan. New balance: Ksh 4500',
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
      async () => sim.callbacks.filter((c) => c.kind === 'stk' && c.text.includes(started.checkoutRequestId)),
      (sent) => sent.length === 2,
      5_000,
    );
    // Twice from the simulator, then three more: two at once, one after.
    const post = () =>
      fetch(`${callbackBase}/api/mpesa/callbacks/${SECRET}/stk`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: callback[0].text });
    const answers = await Promise.all([post(), post()]);
    answers.push(await post());
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(await balance(u.id)).toBe(700);
    const credits = await db.query(`SELECT count(*)::int AS n FROM transfers WHERE idempotency_key = $1`, [`deposit:stk:${started.checkoutRequestId}`]);
    expect(credits[0].n).toBe(1);
    expect(await ledgerViolations(db)).toEqual([]);
  });

  it('applies the first STK callback once when three copies arrive together while the payment is still pending', async () => {
    const u = await user();
    // The simulator sends nothing for this push: the three copies below are the first callbacks.
    sim.setOutcome(u.phoneNumber, 'no_callback');
    const started = await topUp(u.token, 640);
    const row = await payment(started.id);
    expect(row.status).toBe('pending');
    const body = published<{ Body: { stkCallback: Record<string, unknown> & { CallbackMetadata: { Item: { Name: string; Value: unknown }[] } } } }>(
      'daraja-stk-callback-success.json',
    );
    const callback = body.Body.stkCallback;
    callback.MerchantRequestID = row.merchantRequestId;
    callback.CheckoutRequestID = row.checkoutRequestId;
    const values: Record<string, unknown> = {
      Amount: 640,
      MpesaReceiptNumber: `TK${randomBytes(4).toString('hex').toUpperCase()}`,
      TransactionDate: Number(nairobiTimestamp()),
      PhoneNumber: Number(u.phoneNumber),
    };
    callback.CallbackMetadata.Item = callback.CallbackMetadata.Item.map((item) => ({ Name: item.Name, Value: values[item.Name] }));
    const text = JSON.stringify(body);

    const answers = await Promise.all([postCallback('stk', text), postCallback('stk', text), postCallback('stk', text)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(await payment(started.id)).toMatchObject({ status: 'succeeded', resultCode: 0, receipt: values.MpesaReceiptNumber });
    expect(await balance(u.id)).toBe(640);
    expect(await transfersWithKey(`deposit:stk:${started.checkoutRequestId}`)).toBe(1);
    expect(await smsCount(u.phoneNumber, 'deposit.received')).toBe(1);
    expect(await smsCount(u.phoneNumber, 'mpesa.topup_failed')).toBe(0);
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
    const paid = await sim.c2b({ billRefNumber: formatLocal(u.phoneNumber), amount: 650 });
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
    const tooMuch = await sim.c2b({ billRefNumber: formatLocal(u.phoneNumber), amount: 250_001 });
    expect(tooMuch.completed).toBe(false);
    expect(tooMuch.confirmation).toBeUndefined();
    expect(tooMuch.validation?.status).toBe(200);
    expect(tooMuch.validation?.response).toEqual({ ResultCode: 'C2B00013', ResultDesc: 'Rejected' });
    // The limit itself is accepted.
    const most = await sim.c2b({ billRefNumber: formatLocal(u.phoneNumber), amount: 250_000 });
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
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_sent')).toMatch(/^Deni: Ksh 500 was sent to your M-PESA\. Ref [A-Z0-9]{10}\.$/);

    sim.setOutcome(u.phoneNumber, 'insufficient_funds');
    const failing = await api.call('POST', '/api/wallet/withdrawals', { token: u.token, body: { amount: 800, pin: PIN } });
    expect(failing.status).toBe(202);
    expect(await balance(u.id)).toBe(700);
    expect(await settled((failing.body as { id: string }).id)).toMatchObject({ status: 'failed', resultCode: 1 });
    expect(await balance(u.id)).toBe(1_500);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_failed')).toBe(
      'Deni: your withdrawal of Ksh 800 did not go through. The money is back in your wallet.',
    );
    // More than the wallet holds, or a wrong PIN: refused, nothing held.
    expect((await api.call('POST', '/api/wallet/withdrawals', { token: u.token, body: { amount: 5_000, pin: PIN } })).body).toMatchObject({
      code: 'WALLET.INSUFFICIENT_FUNDS',
    });
    expect((await api.call('POST', '/api/wallet/withdrawals', { token: u.token, body: { amount: 100, pin: '1357' } })).status).toBe(401);
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
    expect(done).toMatchObject({ status: 'failed', resultCode: 1 });
    expect(done.resultDesc).toMatch(/^Queue timeout: /);
    // (The simulator notes our answer once it has read it, which may be after the row changed.)
    await eventually(async () => sim.callbacks.filter((c) => c.kind === 'b2c_timeout' && c.text.includes(id)).map((c) => c.status), (s) => s.length === 1 && s[0] === 200);
    expect(sim.callbacks.filter((c) => c.kind === 'b2c_result' && c.text.includes(id))).toEqual([]);
    expect(await balance(u.id)).toBe(1_000);
    expect(await transfersWithKey(`withdrawal:${id}:outcome`)).toBe(1);
    expect(await api.lastSms(u.phoneNumber, 'mpesa.withdrawal_failed')).toBe(
      'Deni: your withdrawal of Ksh 600 did not go through. The money is back in your wallet.',
    );
  });

  it('makes one withdrawal of a request retried with the same Idempotency-Key', async () => {
    const u = await user(uniquePhone(), 1_000);
    const send = () =>
      api.call('POST', '/api/wallet/withdrawals', { token: u.token, body: { amount: 300, pin: PIN }, headers: { 'idempotency-key': 'retry-me-1' } });
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

  it('refuses callbacks on a wrong secret path and answers malformed bodies with 422, moving nothing', async () => {
    const wrong = await fetch(`${callbackBase}/api/mpesa/callbacks/not-the-secret-at-all/stk`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(wrong.status).toBe(404);
    for (const body of ['{}', '{"Body":{"stkCallback":{"ResultCode":"zero"}}}', '[]', 'null']) {
      const res = await fetch(`${callbackBase}/api/mpesa/callbacks/${SECRET}/stk`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ code: 'MPESA.BAD_CALLBACK' });
    }
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
  });
});

describe('M-PESA callbacks from outside MPESA_CALLBACK_ALLOWED_IPS', () => {
  it('are refused with 403 before anything is read', async () => {
    const { app } = await startTestApp({ APP_ROLE: 'api', MPESA_CALLBACK_SECRET: SECRET, MPESA_CALLBACK_ALLOWED_IPS: '196.201.214.0/24' });
    try {
      const outside = await app.inject({ method: 'POST', url: `/api/mpesa/callbacks/${SECRET}/stk`, payload: {}, remoteAddress: '127.0.0.1' });
      expect(outside.statusCode).toBe(403);
      expect(outside.json()).toMatchObject({ code: 'MPESA.FORBIDDEN_ADDRESS' });
      const inside = await app.inject({ method: 'POST', url: `/api/mpesa/callbacks/${SECRET}/stk`, payload: {}, remoteAddress: '196.201.214.200' });
      expect(inside.statusCode).toBe(422); // allowed in, then refused as unreadable
    } finally {
      await app.close();
    }
  });
});
