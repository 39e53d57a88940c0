import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MPESA_DEVELOPMENT_DEFAULTS } from '../../config/app-config.js';
import { nairobiTimestamp, stkPassword } from '../../mpesa/daraja.parsers.js';
import { STK_RESOLUTIONS, startDarajaSimulator, type DarajaSimulator } from './daraja-simulator.js';

/**
 * The `hold` outcome: an STK push stays pending until it is decided by hand (what the phone
 * simulator page's "pending top-ups" control does), over plain HTTP as Daraja's clients speak it.
 */
describe('Daraja simulator: STK pushes held until decided', () => {
  let sim: DarajaSimulator;
  let receiver: Server;
  let callbackUrl: string;
  const callbacks: { CheckoutRequestID: string; ResultCode: number }[] = [];

  beforeAll(async () => {
    sim = await startDarajaSimulator({ callbackDelayMs: 30, duplicateDelayMs: 20 });
    receiver = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk) => (text += chunk));
      req.on('end', () => {
        callbacks.push(
          (JSON.parse(text) as { Body: { stkCallback: { CheckoutRequestID: string; ResultCode: number } } }).Body
            .stkCallback,
        );
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ResultCode":0,"ResultDesc":"Accepted"}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    callbackUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/stk`;
  });
  afterAll(async () => {
    await sim.close();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const callbacksFor = (id: string) => callbacks.filter((c) => c.CheckoutRequestID === id);

  async function token(on: DarajaSimulator): Promise<string> {
    const basic = Buffer.from(
      `${MPESA_DEVELOPMENT_DEFAULTS.consumerKey}:${MPESA_DEVELOPMENT_DEFAULTS.consumerSecret}`,
    ).toString('base64');
    const res = await fetch(`${on.url}/oauth/v1/generate?grant_type=client_credentials`, {
      headers: { authorization: `Basic ${basic}` },
    });
    return ((await res.json()) as { access_token: string }).access_token;
  }

  async function daraja(
    path: string,
    body: Record<string, unknown>,
    on = sim,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const timestamp = nairobiTimestamp();
    const res = await fetch(`${on.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(on)}` },
      body: JSON.stringify({
        BusinessShortCode: '174379',
        Timestamp: timestamp,
        Password: stkPassword('174379', MPESA_DEVELOPMENT_DEFAULTS.passkey, timestamp),
        ...body,
      }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function stkPush(phoneNumber: string, amount: number, on = sim): Promise<string> {
    const { body } = await daraja(
      '/mpesa/stkpush/v1/processrequest',
      {
        TransactionType: 'CustomerPayBillOnline',
        Amount: amount,
        PartyA: phoneNumber,
        PartyB: '174379',
        PhoneNumber: phoneNumber,
        CallBackURL: callbackUrl,
        AccountReference: 'DENI',
        TransactionDesc: 'Top up',
      },
      on,
    );
    return String(body.CheckoutRequestID);
  }

  it('holds a push (pending, no callback, STK query "being processed") until resolveStkPush decides it', async () => {
    const phone = '254711000101';
    sim.setOutcome(phone, 'hold');
    const id = await stkPush(phone, 250);
    await sleep(150);
    expect(callbacksFor(id)).toHaveLength(0);
    expect(sim.pendingStkPushes(phone)).toEqual([
      {
        checkoutRequestId: id,
        merchantRequestId: expect.any(String) as unknown,
        phoneNumber: phone,
        amount: 250,
        requestedAt: expect.any(Date) as unknown,
        held: true,
      },
    ]);
    expect(sim.pendingStkPushes('254711000999')).toEqual([]);
    const query = await daraja('/mpesa/stkpushquery/v1/query', { CheckoutRequestID: id });
    expect(query).toMatchObject({ status: 500, body: { errorMessage: 'The transaction is being processed' } });

    sim.resolveStkPush(id, 'success');
    await sleep(100);
    expect(callbacksFor(id)).toEqual([expect.objectContaining({ ResultCode: 0 })]);
    expect(sim.pendingStkPushes(phone)).toEqual([]);
    expect((await daraja('/mpesa/stkpushquery/v1/query', { CheckoutRequestID: id })).body).toMatchObject({
      ResultCode: '0',
    });
    // Decided once.
    expect(() => sim.resolveStkPush(id, 'cancelled')).toThrow(/already decided/);
    expect(() => sim.resolveStkPush('ws_CO_nope', 'success')).toThrow(/no STK push/);
  });

  it('delivers any deciding outcome: a duplicate callback twice, a failure with its code', async () => {
    const phone = '254711000102';
    sim.setOutcome(phone, 'hold');
    const twice = await stkPush(phone, 10);
    const wrongPin = await stkPush(phone, 20);
    expect(sim.pendingStkPushes(phone).map((p) => p.checkoutRequestId)).toEqual([twice, wrongPin]);
    sim.resolveStkPush(twice, 'duplicate_callback');
    sim.resolveStkPush(wrongPin, 'wrong_pin');
    await sleep(150);
    expect(callbacksFor(twice)).toHaveLength(2);
    expect(callbacksFor(wrongPin)).toEqual([expect.objectContaining({ ResultCode: 2001 })]);
    expect(STK_RESOLUTIONS).not.toContain('hold');
  });

  it('can decide a push early, before its delay ends, and the delay then sends nothing more', async () => {
    const slow = await startDarajaSimulator({ callbackDelayMs: 200 });
    try {
      const phone = '254711000103';
      const id = await stkPush(phone, 30, slow);
      expect(slow.pendingStkPushes(phone)).toMatchObject([{ checkoutRequestId: id, held: false }]);
      slow.resolveStkPush(id, 'cancelled');
      await sleep(350);
      expect(callbacksFor(id)).toEqual([expect.objectContaining({ ResultCode: 1032 })]);
    } finally {
      await slow.close();
    }
  });

  it('has control routes for the same: list pending pushes, decide one', async () => {
    const phone = '254711000104';
    await fetch(`${sim.url}/simulator/outcomes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phoneNumber: phone, outcome: 'hold' }),
    });
    const id = await stkPush(phone, 40);
    const listed = (await (await fetch(`${sim.url}/simulator/stk/pending?phoneNumber=${phone}`)).json()) as {
      checkoutRequestId: string;
    }[];
    expect(listed.map((p) => p.checkoutRequestId)).toEqual([id]);
    const decide = (checkoutRequestId: string, outcome: string) =>
      fetch(`${sim.url}/simulator/stk/${checkoutRequestId}/outcome`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ outcome }),
      });
    expect((await decide(id, 'hold')).status).toBe(400);
    expect((await decide('ws_CO_unknown', 'success')).status).toBe(404);
    const ok = await decide(id, 'insufficient_funds');
    expect([ok.status, await ok.json()]).toEqual([200, { checkoutRequestId: id, outcome: 'insufficient_funds' }]);
    expect((await decide(id, 'success')).status).toBe(409);
    await sleep(100);
    expect(callbacksFor(id)).toEqual([expect.objectContaining({ ResultCode: 1 })]);
  });
});
