import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { DomainError } from '../src/common/domain-error.js';
import { nairobiTimestamp } from '../src/mpesa/daraja.parsers.js';
import { MpesaPayment } from '../src/mpesa/mpesa-payment.entity.js';
import { TopUpService } from '../src/mpesa/top-up.service.js';
import type { DarajaSimulator } from '../src/simulators/daraja/daraja-simulator.js';
import { UsersService } from '../src/users/users.service.js';
import { WalletService } from '../src/wallet/wallet.service.js';
import { ADMIN_KEY, ApiClient } from './support/api-client.js';
import { eventually } from './support/eventually.js';
import { ledgerViolations } from './support/invariants.js';
import { freePort } from './support/processes.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

/**
 * Top-ups (STK push) replayed and contradicted: the same Idempotency-Key sends one prompt and
 * answers the payment it recorded, another amount under it is a conflict; and an STK success that
 * comes after the payment was recorded failed ends one defined way, credited at most once, flagged.
 */
const PIN = '4821';
const SECRET = 'test-callback-secret-0123456789';
const STK_PUSH = '/mpesa/stkpush/v1/processrequest';

type PaymentBody = { id: string; status: string; amount: number; checkoutRequestId: string | null };

function published<T>(name: string): T {
  return JSON.parse(readFileSync(`test/fixtures/providers/${name}`, 'utf8')) as T;
}

describe('top-ups replayed with an Idempotency-Key, and late STK outcomes', () => {
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
      ADMIN_API_KEY: ADMIN_KEY,
    }));
    await app.listen(port, '127.0.0.1');
    api = new ApiClient(app);
    db = app.get(DataSource);
  });
  afterAll(() => app?.close());
  afterEach(async () => {
    expect(await ledgerViolations(db)).toEqual([]);
  });

  async function user(phoneNumber = uniquePhone()) {
    const users = app.get(UsersService);
    const u = await users.findOrRegister(phoneNumber);
    await users.createPin(u.id, PIN);
    return { ...u, token: await api.login(phoneNumber, PIN) };
  }

  const topUp = (token: string, amount: number, key?: string) =>
    api.call<PaymentBody & { code?: string }>('POST', '/api/wallet/deposits', {
      token,
      body: { amount },
      ...(key === undefined ? {} : { headers: { 'idempotency-key': key } }),
    });
  /** The STK pushes Deni sent to Daraja for this number. */
  const pushesTo = (phoneNumber: string) =>
    sim.requests.filter(
      (r) => r.path === STK_PUSH && String((r.body as Record<string, unknown>).PhoneNumber) === phoneNumber,
    ).length;
  const payment = (id: string) => db.getRepository(MpesaPayment).findOneByOrFail({ id });
  const topUpsOf = (userId: string) => db.getRepository(MpesaPayment).countBy({ userId, kind: 'stk' });
  const balance = (userId: string) => app.get(WalletService).balance(userId);
  const credits = async (row: MpesaPayment) =>
    (
      await db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM transfers WHERE idempotency_key = $1`, [
        `deposit:stk:${row.checkoutRequestId}`,
      ])
    )[0].n;
  const postCallback = (body: string) =>
    fetch(`${callbackBase}/api/mpesa/callbacks/${SECRET}/stk`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });

  /** Safaricom's success sample, made to speak of one push (a fresh receipt). */
  function stkSuccess(row: MpesaPayment): { text: string; receipt: string } {
    const body = published<{
      Body: {
        stkCallback: Record<string, unknown> & { CallbackMetadata: { Item: { Name: string; Value: unknown }[] } };
      };
    }>('daraja-stk-callback-success.json');
    const callback = body.Body.stkCallback;
    callback.MerchantRequestID = row.merchantRequestId;
    callback.CheckoutRequestID = row.checkoutRequestId;
    const receipt = `TK${randomBytes(4).toString('hex').toUpperCase()}`;
    const values: Record<string, unknown> = {
      Amount: row.amount,
      MpesaReceiptNumber: receipt,
      TransactionDate: Number(nairobiTimestamp()),
      PhoneNumber: Number(row.phoneNumber),
    };
    callback.CallbackMetadata.Item = callback.CallbackMetadata.Item.map((i) => ({
      Name: i.Name,
      Value: values[i.Name],
    }));
    return { text: JSON.stringify(body), receipt };
  }

  /** Safaricom's "cancelled by the user" sample (ResultCode 1032) for one push. */
  function stkCancelled(row: MpesaPayment): string {
    const body = published<{ Body: { stkCallback: Record<string, unknown> } }>('daraja-stk-callback-cancelled.json');
    body.Body.stkCallback.MerchantRequestID = row.merchantRequestId;
    body.Body.stkCallback.CheckoutRequestID = row.checkoutRequestId;
    return JSON.stringify(body);
  }

  describe('POST /api/wallet/deposits with an Idempotency-Key', () => {
    it('answers a retry with the same key with the payment it recorded, and sends one STK push', async () => {
      const u = await user();
      sim.setOutcome(u.phoneNumber, 'hold');
      const key = `top-up-${randomUUID()}`;
      const first = await topUp(u.token, 700, key);
      expect(first).toMatchObject({ status: 202, body: { status: 'pending', amount: 700 } });
      const again = await topUp(u.token, 700, key);
      expect(again.status).toBe(202);
      expect(again.body).toEqual(first.body);
      expect(pushesTo(u.phoneNumber)).toBe(1);
      expect(await topUpsOf(u.id)).toBe(1);

      // Paid: a retry after the outcome answers the outcome, and nothing is credited twice.
      sim.resolveStkPush(first.body.checkoutRequestId!, 'success');
      const paid = await eventually(
        () => payment(first.body.id),
        (p) => p.status === 'succeeded',
        15_000,
      );
      const late = await topUp(u.token, 700, key);
      expect(late).toMatchObject({ status: 202, body: { id: first.body.id, status: 'succeeded' } });
      expect(pushesTo(u.phoneNumber)).toBe(1);
      expect(await balance(u.id)).toBe(700);
      expect(await credits(paid)).toBe(1);
    });

    it('sends one STK push for three requests with the same key at once, and answers all three with that payment', async () => {
      const u = await user();
      sim.setOutcome(u.phoneNumber, 'hold');
      const key = `at-once-${randomUUID()}`;
      const answers = await Promise.all([1, 2, 3].map(() => topUp(u.token, 1_200, key)));
      expect(answers.map((a) => a.status)).toEqual([202, 202, 202]);
      expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
      expect(pushesTo(u.phoneNumber)).toBe(1);
      expect(await topUpsOf(u.id)).toBe(1);
    });

    it('refuses the same key for another amount with 409 MPESA.TOP_UP_ID_CONFLICT, sending nothing', async () => {
      const u = await user();
      sim.setOutcome(u.phoneNumber, 'hold');
      const key = `conflict-${randomUUID()}`;
      const first = await topUp(u.token, 400, key);
      expect(first.status).toBe(202);
      const other = await topUp(u.token, 450, key);
      expect(other).toMatchObject({ status: 409, body: { code: 'MPESA.TOP_UP_ID_CONFLICT' } });
      expect(pushesTo(u.phoneNumber)).toBe(1);
      expect(await topUpsOf(u.id)).toBe(1);
      expect(await payment(first.body.id)).toMatchObject({ amount: 400 });
    });

    it("keeps one user's key apart from another's, and sends a new push for a new key or none", async () => {
      const a = await user();
      const b = await user();
      sim.setOutcome(a.phoneNumber, 'hold');
      sim.setOutcome(b.phoneNumber, 'hold');
      const key = `shared-${randomUUID()}`;
      const mine = await topUp(a.token, 300, key);
      const theirs = await topUp(b.token, 300, key);
      expect([mine.status, theirs.status]).toEqual([202, 202]);
      expect(theirs.body.id).not.toBe(mine.body.id);
      expect(pushesTo(b.phoneNumber)).toBe(1);

      expect((await topUp(a.token, 300, `${key}-2`)).status).toBe(202);
      expect((await topUp(a.token, 300)).status).toBe(202);
      expect(pushesTo(a.phoneNumber)).toBe(3);
      expect(await topUpsOf(a.id)).toBe(3);
    });

    it('answers a retry of a push Daraja refused with that failed payment, not a second push', async () => {
      const u = await user();
      sim.injectFault({ path: STK_PUSH, phoneNumber: u.phoneNumber, kind: 'status', status: 400, times: 1 });
      const key = `refused-${randomUUID()}`;
      const first = await topUp(u.token, 800, key);
      expect(first).toMatchObject({ status: 422, body: { code: 'MPESA.DARAJA_REJECTED' } });
      const [row] = await db.getRepository(MpesaPayment).findBy({ userId: u.id, kind: 'stk' });
      expect(row).toMatchObject({ status: 'failed', amount: 800 });

      const again = await topUp(u.token, 800, key);
      expect(again).toMatchObject({ status: 202, body: { id: row.id, status: 'failed' } });
      expect(pushesTo(u.phoneNumber)).toBe(1);
      expect(await topUpsOf(u.id)).toBe(1);
      expect(await balance(u.id)).toBe(0);
    });

    it('refuses a malformed key with 422 REQUEST.BAD_IDEMPOTENCY_KEY before anything is sent', async () => {
      const u = await user();
      const res = await topUp(u.token, 500, 'not a key!');
      expect(res).toMatchObject({ status: 422, body: { code: 'REQUEST.BAD_IDEMPOTENCY_KEY' } });
      expect(pushesTo(u.phoneNumber)).toBe(0);
      expect(await topUpsOf(u.id)).toBe(0);
    });
  });

  describe('TopUpService.startTopUp with an id', () => {
    it('returns the recorded payment for the same id, and refuses another amount or another phone', async () => {
      const u = await user();
      sim.setOutcome(u.phoneNumber, 'hold');
      const mpesa = app.get(TopUpService);
      const id = randomUUID();
      const first = await mpesa.startTopUp(u.id, 650, { id });
      expect(first).toMatchObject({ id, status: 'pending', amount: 650, phoneNumber: u.phoneNumber });
      const again = await mpesa.startTopUp(u.id, 650, { id });
      expect(again).toMatchObject({ id, status: 'pending', checkoutRequestId: first.checkoutRequestId });
      expect(pushesTo(u.phoneNumber)).toBe(1);

      const conflict = (e: unknown) => (e as DomainError).code;
      await expect(mpesa.startTopUp(u.id, 651, { id }).catch(conflict)).resolves.toBe('MPESA.TOP_UP_ID_CONFLICT');
      // The user's number changed since: the id names a push to the old one.
      const newNumber = uniquePhone();
      await db.query(`UPDATE users SET phone_number = $1 WHERE id = $2`, [newNumber, u.id]);
      await expect(mpesa.startTopUp(u.id, 650, { id }).catch(conflict)).resolves.toBe('MPESA.TOP_UP_ID_CONFLICT');
      // Another user's id is never theirs to replay.
      const other = await user();
      await expect(mpesa.startTopUp(other.id, 650, { id }).catch(conflict)).resolves.toBe('MPESA.TOP_UP_ID_CONFLICT');
      expect(pushesTo(u.phoneNumber) + pushesTo(newNumber) + pushesTo(other.phoneNumber)).toBe(1);
      expect(await topUpsOf(u.id)).toBe(1);
      expect(await topUpsOf(other.id)).toBe(0);
    });
  });

  describe('an STK success callback after the payment was recorded failed', () => {
    it('M-PESA did take the money: credited once however often the success comes, the payment succeeded and flagged', async () => {
      const u = await user();
      sim.setOutcome(u.phoneNumber, 'hold');
      const started = await topUp(u.token, 550);
      expect(started.status).toBe(202);
      const row = await payment(started.body.id);
      // A failure is recorded first (here a cancellation callback), then M-PESA takes the money
      // after all and its query says so.
      expect((await postCallback(stkCancelled(row))).status).toBe(200);
      expect(await payment(row.id)).toMatchObject({ status: 'failed', resultCode: 1032, needsReview: false });
      sim.resolveStkPush(row.checkoutRequestId!, 'lost_callback');

      const late = stkSuccess(row);
      const answers = await Promise.all([1, 2, 3].map(() => postCallback(late.text)));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      const done = await eventually(
        () => payment(row.id),
        (p) => p.status === 'succeeded',
        15_000,
      );
      expect(done).toMatchObject({ status: 'succeeded', resultCode: 0, needsReview: true });
      expect(done.callbackMismatches).toEqual([expect.objectContaining({ kinds: ['outcome'], resultCode: 0 })]);
      // Once more, later: still one credit.
      expect((await postCallback(late.text)).status).toBe(200);
      expect(await balance(u.id)).toBe(550);
      expect(await credits(done)).toBe(1);
      const review = await api.call<{ id: string }[]>('GET', '/api/admin/mpesa/payments?needsReview=true', {
        admin: true,
      });
      expect(review.body.map((p) => p.id)).toContain(row.id);
    });

    it('M-PESA did not take it: stays failed, credits nothing, and the claim is flagged', async () => {
      const u = await user();
      sim.setOutcome(u.phoneNumber, 'cancelled');
      const started = await topUp(u.token, 350);
      expect(started.status).toBe(202);
      const failed = await eventually(
        () => payment(started.body.id),
        (p) => p.status === 'failed',
        15_000,
      );
      expect(failed).toMatchObject({ resultCode: 1032, needsReview: false });

      const late = stkSuccess(failed);
      const answers = await Promise.all([1, 2, 3].map(() => postCallback(late.text)));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      const done = await payment(failed.id);
      expect(done).toMatchObject({ status: 'failed', resultCode: 1032, receipt: null, needsReview: true });
      expect(done.callbackMismatches).toEqual([
        expect.objectContaining({ kinds: ['outcome', 'not_confirmed'], receipt: late.receipt, resultCode: 0 }),
      ]);
      expect(await balance(u.id)).toBe(0);
      expect(await credits(done)).toBe(0);
    });
  });
});
