import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { LoansService } from '../src/loans/loans.service.js';
import { MpesaPayment } from '../src/mpesa/mpesa-payment.entity.js';
import { WithdrawalService } from '../src/mpesa/withdrawal.service.js';
import { UsersService } from '../src/users/users.service.js';
import { WalletService } from '../src/wallet/wallet.service.js';
import { ApiClient } from './support/api-client.js';
import { eventually } from './support/eventually.js';
import { freePort, ProcessTracker, waitUntil } from './support/processes.js';
import { startSimulatorsProcess } from './support/simulators.js';
import { ownRedisPrefix, startTestApp, uniquePhone } from './support/test-app.js';

/**
 * The Daraja and Africa's Talking simulators run as their own process (npm run simulators), as
 * the providers do, and remember what they were asked and did (STK pushes, B2C payments) across
 * restarts of either side, so that a fault test sees what production would.
 */
const PIN = '4821';
const SECRET = 'test-callback-secret-0123456789';

describe('the simulators process', () => {
  const tracker = new ProcessTracker();
  const dataDir = mkdtempSync(join(tmpdir(), 'deni-simulators-'));
  let app: NestFastifyApplication | undefined;
  /** The withdrawal test's Deni (the top-up test's stays in `app` until the end). */
  let paying: NestFastifyApplication | undefined;
  afterAll(async () => {
    await app?.close();
    await paying?.close();
    await tracker.killAll();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps a top-up across restarts of Deni and of the simulators, and still calls Deni back', async () => {
    let simulators = await startSimulatorsProcess(tracker, dataDir);
    const callbackPort = await freePort();
    const env = {
      MPESA_BASE_URL: simulators.url,
      MPESA_CALLBACK_BASE_URL: `http://127.0.0.1:${callbackPort}`,
      MPESA_CALLBACK_SECRET: SECRET,
      REDIS_KEY_PREFIX: ownRedisPrefix(),
    };
    const startDeni = async () => {
      ({ app } = await startTestApp(env));
      await app.listen(callbackPort, '127.0.0.1');
      return app;
    };

    let deni = await startDeni();
    const phoneNumber = uniquePhone();
    const users = deni.get(UsersService);
    const user = await users.findOrRegister(phoneNumber);
    await users.createPin(user.id, PIN);
    const token = await new ApiClient(deni).login(phoneNumber, PIN);
    // The customer has not answered the PIN prompt when both sides go down.
    const hold = await fetch(`${simulators.url}/simulator/outcomes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phoneNumber, outcome: 'hold' }),
    });
    expect(hold.status).toBe(200);
    const started = await new ApiClient(deni).call<{ id: string; checkoutRequestId: string }>(
      'POST',
      '/api/wallet/deposits',
      { token, body: { amount: 700 } },
    );
    expect(started.status).toBe(202);
    const { id, checkoutRequestId } = started.body;

    await deni.close();
    app = undefined;
    await tracker.stop(simulators.process);
    simulators = await startSimulatorsProcess(tracker, dataDir, simulators.port);
    deni = await startDeni();

    // The simulators still know the push (Daraja never forgets a transaction)...
    const pending = (await (
      await fetch(`${simulators.url}/simulator/stk/pending?phoneNumber=${phoneNumber}`)
    ).json()) as { checkoutRequestId: string; amount: number }[];
    expect(pending).toEqual([expect.objectContaining({ checkoutRequestId, amount: 700 })]);
    // ...and once the customer answers, the callback reaches the restarted Deni's real route.
    const answer = await fetch(`${simulators.url}/simulator/stk/${checkoutRequestId}/outcome`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ outcome: 'success' }),
    });
    expect(answer.status).toBe(200);
    const payments = deni.get(DataSource).getRepository(MpesaPayment);
    const done = await eventually(
      () => payments.findOneByOrFail({ id }),
      (p) => p.status !== 'pending',
      15_000,
    );
    expect(done).toMatchObject({ status: 'succeeded', amount: 700, checkoutRequestId });
    expect(await deni.get(WalletService).balance(user.id)).toBe(700);
    // Two starts of the simulators process (tsx compiling it each time) and of Deni: a safety net
    // for a loaded machine, not a bound on how long it may take.
  }, 120_000);

  it('keeps a withdrawal it paid while Deni was down across restarts of both: reconciliation settles it as paid, never gives it back', async () => {
    const dir = join(dataDir, 'b2c');
    let simulators = await startSimulatorsProcess(tracker, dir);
    const callbackPort = await freePort();
    const env = {
      MPESA_BASE_URL: simulators.url,
      MPESA_CALLBACK_BASE_URL: `http://127.0.0.1:${callbackPort}`,
      MPESA_CALLBACK_SECRET: SECRET,
      REDIS_KEY_PREFIX: ownRedisPrefix(),
      // Short, as in a fault test, and with the riskier last resort: past 9 s without a verdict the
      // money would go back. Transaction Status is asked no sooner than 8 s after the acknowledgement,
      // and its answer then has 8 s to come (the simulator sends it after a second).
      MPESA_RECONCILE_AFTER_MS: '8000',
      MPESA_RECONCILE_MAX_AGE_MS: '9000',
      MPESA_RECONCILE_LAST_RESORT: 'release',
    };

    // Deni takes the withdrawal and Daraja acknowledges it; then Deni is gone when M-PESA's result
    // comes (it never listens on its callback port, and runs no reconciliation: APP_ROLE=api).
    const first = (paying = (await startTestApp({ ...env, APP_ROLE: 'api' })).app);
    const phoneNumber = uniquePhone();
    const user = await first.get(UsersService).findOrRegister(phoneNumber);
    await first.get(LoansService).receiveDeposit({ userId: user.id, amount: 1000, reference: `MP-${phoneNumber}` });
    const { id } = await first.get(WithdrawalService).withdraw(user.id, 600);
    expect(await first.get(DataSource).getRepository(MpesaPayment).findOneByOrFail({ id })).toMatchObject({
      status: 'pending',
      conversationId: expect.stringMatching(/^AG_/) as unknown,
    });
    // M-PESA pays; its result finds nobody.
    const lost = await waitUntil(
      async () => {
        const log = (await (await fetch(`${simulators.url}/simulator/log`)).json()) as {
          callbacks: { kind: string; text: string; error?: string }[];
        };
        return log.callbacks.find((c) => c.kind === 'b2c_result' && c.text.includes(id) && c.error !== undefined);
      },
      20_000,
      "the simulator sends the withdrawal's result",
    );
    const result = (
      JSON.parse(lost.text) as {
        Result: { ResultCode: number; ResultParameters: { ResultParameter: { Key: string; Value: unknown }[] } };
      }
    ).Result;
    expect(result.ResultCode).toBe(0);
    const receipt = result.ResultParameters.ResultParameter.find((p) => p.Key === 'TransactionReceipt')?.Value;
    expect(receipt).toEqual(expect.stringMatching(/^[A-Z0-9]{10}$/));
    await first.close();
    paying = undefined;

    // The simulators process killed outright, then started again on what it had written.
    process.kill(-simulators.process.child.pid!, 'SIGKILL');
    await simulators.process.exited;
    simulators = await startSimulatorsProcess(tracker, dir, simulators.port);

    // Deni again, listening, reconciling: Transaction Status still knows the payment.
    const again = (paying = (await startTestApp(env)).app);
    await again.listen(callbackPort, '127.0.0.1');
    const done = await eventually(
      () => again.get(DataSource).getRepository(MpesaPayment).findOneByOrFail({ id }),
      (p) => p.status !== 'pending',
      30_000,
    );
    expect(done).toMatchObject({
      status: 'succeeded',
      resultCode: 0,
      resultDesc: 'Transaction status: Completed',
      receipt,
      needsReview: false,
    });
    expect(await again.get(WalletService).balance(user.id)).toBe(400);
    const outcomes = await again
      .get(DataSource)
      .query<{ kind: string }[]>(`SELECT kind FROM transfers WHERE idempotency_key = $1`, [`withdrawal:${id}:outcome`]);
    expect(outcomes.map((o) => o.kind)).toEqual(['withdrawal_settle']);
    const unconfirmed = await again
      .get(DataSource)
      .query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM notifications WHERE phone_number = $1 AND template = 'mpesa.withdrawal_unconfirmed'`,
        [phoneNumber],
      );
    expect(unconfirmed[0].n).toBe(0);
    await again.close();
    paying = undefined;
    await tracker.stop(simulators.process);
  }, 120_000);

  it("refuses a write a page on another site makes a browser send to its control routes, as Deni's server does", async () => {
    const simulators = await startSimulatorsProcess(tracker, join(dataDir, 'cross-site'));
    const phoneNumber = uniquePhone();
    const setOutcome = (headers: Record<string, string>) =>
      fetch(`${simulators.url}/simulator/outcomes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ phoneNumber, outcome: 'cancelled' }),
      });
    const outcomeOf = async () =>
      ((await (await fetch(`${simulators.url}/simulator/log`)).json()) as { outcomes: Record<string, string> })
        .outcomes[phoneNumber];

    const foreign: Record<string, string>[] = [{ origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site' }];
    for (const headers of foreign) {
      const refused = await setOutcome(headers);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ statusCode: 403, code: 'REQUEST.CROSS_SITE' });
    }
    expect(await outcomeOf()).toBeUndefined();

    // Not from a browser's page (Deni, curl, the dialer): no Origin, and it goes through.
    expect((await setOutcome({})).status).toBe(200);
    expect(await outcomeOf()).toBe('cancelled');
    await tracker.stop(simulators.process);
  });
});
