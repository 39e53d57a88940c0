import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { MpesaPayment } from '../src/mpesa/mpesa-payment.entity.js';
import { UsersService } from '../src/users/users.service.js';
import { WalletService } from '../src/wallet/wallet.service.js';
import { ApiClient } from './support/api-client.js';
import { eventually } from './support/eventually.js';
import { freePort, ProcessTracker } from './support/processes.js';
import { startSimulatorsProcess } from './support/simulators.js';
import { ownRedisPrefix, startTestApp, uniquePhone } from './support/test-app.js';

/**
 * The Daraja and Africa's Talking simulators run as their own process (npm run simulators), as
 * the providers do, and remember what they were asked across restarts of either side.
 */
const PIN = '4821';
const SECRET = 'test-callback-secret-0123456789';

describe('the simulators process', () => {
  const tracker = new ProcessTracker();
  const dataDir = mkdtempSync(join(tmpdir(), 'deni-simulators-'));
  let app: NestFastifyApplication | undefined;
  afterAll(async () => {
    await app?.close();
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
