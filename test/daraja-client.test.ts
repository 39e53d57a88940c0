import { constants, createHash, privateDecrypt, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ModulesContainer } from '@nestjs/core';
import { ConfigValidationError, MPESA_DEVELOPMENT_DEFAULTS } from '../src/config/app-config.js';
import { createRedisConnection, type RedisClient } from '../src/redis/redis-connection.factory.js';
import { DarajaClient } from '../src/mpesa/daraja.client.js';
import { DarajaError } from '../src/mpesa/daraja.errors.js';
import { darajaClientOptions, type DarajaClientOptions } from '../src/mpesa/daraja.options.js';
import {
  C2B_REJECTION_CODES,
  c2bValidationAnswer,
  darajaTimestampToDate,
  parseB2cResult,
  parseC2bRequest,
  parseStkCallback,
  parseTransactionStatusResult,
  stkPassword,
} from '../src/mpesa/daraja.parsers.js';
import {
  startDarajaSimulator,
  type DarajaSimulator,
  type SimulatorOutcome,
} from '../src/simulators/daraja/daraja-simulator.js';
import { eventually } from './support/eventually.js';
import { ownRedisPrefix, startTestApp, testConfig, uniquePhone } from './support/test-app.js';

const OAUTH = '/oauth/v1/generate';
const STK_PUSH = '/mpesa/stkpush/v1/processrequest';
const STK_QUERY = '/mpesa/stkpushquery/v1/query';
const B2C = '/mpesa/b2c/v3/paymentrequest';
const STATUS = '/mpesa/transactionstatus/v1/query';
const SECRET = 'cb-secret-0123456789abcdef';

interface Received {
  path: string;
  text: string;
  at: number;
}

/** What a Result callback (B2C, Transaction Status) says of the request it answers. */
interface ResultCallback {
  Result: { OriginatorConversationID: string };
}

/** Where Daraja (the simulator) sends callbacks: a plain HTTP server, as our callback routes will be. */
async function startReceiver() {
  const received: Received[] = [];
  const rejectedBillRefs = new Set<string>();
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => {
      received.push({ path: req.url ?? '', text, at: Date.now() });
      const body =
        req.url?.endsWith('/c2b/validation') &&
        rejectedBillRefs.has((JSON.parse(text) as { BillRefNumber: string }).BillRefNumber)
          ? c2bValidationAnswer(C2B_REJECTION_CODES.invalidAccountNumber)
          : c2bValidationAnswer();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/mpesa/callbacks/${SECRET}`;
  return {
    url,
    received,
    rejectedBillRefs,
    on: (suffix: string) => received.filter((r) => r.path.endsWith(suffix)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A Daraja timestamp (Nairobi time, whole seconds) read back as this test's moment: not before the
 * test began (to the second), not after now. An hour's error (the time zone) cannot pass.
 */
function expectDuringTest(at: Date | undefined | null, since: number): void {
  expect(at).toBeInstanceOf(Date);
  expect(at!.getTime()).toBeGreaterThanOrEqual(Math.floor(since / 1000) * 1000);
  expect(at!.getTime()).toBeLessThanOrEqual(Date.now());
}

describe('DarajaClient against the local Daraja simulator (real HTTP, real Redis)', () => {
  let sim: DarajaSimulator;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const redisClients: RedisClient[] = [];
  const extraSimulators: DarajaSimulator[] = [];

  beforeAll(async () => {
    sim = await startDarajaSimulator({ callbackDelayMs: 50, duplicateDelayMs: 30 });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await Promise.all(redisClients.map((r) => r.quit().catch(() => r.disconnect())));
    await Promise.all([sim.close(), receiver.close(), ...extraSimulators.map((s) => s.close())]);
  });

  /** A client as MpesaModule builds it (config → options), on its own Redis connection. */
  function newClient(
    prefix: string,
    overrides: Partial<DarajaClientOptions> = {},
    env: Record<string, string> = {},
    simulator = sim,
  ) {
    const config = testConfig({ REDIS_KEY_PREFIX: prefix, MPESA_BASE_URL: simulator.url, ...env });
    const redis = createRedisConnection(config.redis, 'app');
    redisClients.push(redis);
    const client = new DarajaClient(redis, {
      ...darajaClientOptions(config.mpesa),
      retryBackoffMs: 20,
      ...overrides,
    });
    return { client, redis };
  }

  const count = (p: string, simulator = sim) => simulator.requests.filter((r) => r.path === p).length;
  const lastBody = (p: string) => sim.requests.filter((r) => r.path === p).at(-1)!.body as Record<string, unknown>;
  const fixture = (name: string): unknown =>
    JSON.parse(readFileSync(path.resolve('test/fixtures/providers', name), 'utf8'));
  const fixtureKeys = (name: string) => Object.keys(fixture(name) as object).sort();
  const push = (client: DarajaClient, phoneNumber: string, amount = 100) =>
    client.stkPush({
      phoneNumber,
      amount,
      accountReference: 'DENI-TOPUP',
      description: 'Deni top-up',
      callbackUrl: `${receiver.url}/stk`,
    });
  const stkCallbacksFor = (checkoutRequestId: string) =>
    receiver
      .on('/stk')
      .filter(
        (r) =>
          (JSON.parse(r.text) as { Body: { stkCallback: { CheckoutRequestID: string } } }).Body.stkCallback
            .CheckoutRequestID === checkoutRequestId,
      );
  const caught = async (promise: Promise<unknown>): Promise<DarajaError> => {
    try {
      await promise;
    } catch (e) {
      if (e instanceof DarajaError) return e;
      throw e;
    }
    throw new Error('expected a DarajaError');
  };

  describe('access token', () => {
    it('is shared through Redis: concurrent first use by two instances makes exactly one OAuth call', async () => {
      const prefix = ownRedisPrefix();
      const a = newClient(prefix).client;
      const b = newClient(prefix).client;
      // A slow OAuth answer, so every caller arrives while the first request is still out.
      sim.injectFault({ path: OAUTH, kind: 'delay', delayMs: 300 });
      const before = count(OAUTH);
      const tokens = await Promise.all([
        ...Array.from({ length: 5 }, () => a.accessToken()),
        ...Array.from({ length: 5 }, () => b.accessToken()),
      ]);
      expect(new Set(tokens).size).toBe(1);
      expect(count(OAUTH) - before).toBe(1);
      // Later calls, and the API calls themselves, reuse it.
      await a.stkQuery((await push(b, uniquePhone())).checkoutRequestId);
      expect(await a.accessToken()).toBe(tokens[0]);
      expect(count(OAUTH) - before).toBe(1);
    });

    it('replaces a token Daraja refused (401) once and sends the call again; the other instance reads the new one', async () => {
      const prefix = ownRedisPrefix();
      const a = newClient(prefix).client;
      const b = newClient(prefix).client;
      const old = await a.accessToken();
      sim.invalidateTokens();
      const oauthBefore = count(OAUTH);
      const pushesBefore = count(STK_PUSH);
      const accepted = await push(a, uniquePhone());
      expect(accepted.responseCode).toBe('0');
      expect(count(STK_PUSH) - pushesBefore).toBe(2); // refused, then accepted
      expect(count(OAUTH) - oauthBefore).toBe(1);
      const renewed = await b.accessToken();
      expect(renewed).not.toBe(old);
      expect(count(OAUTH) - oauthBefore).toBe(1);
    });

    it('gives up after one refresh when Daraja keeps refusing the token', async () => {
      const { client } = newClient(ownRedisPrefix());
      await client.accessToken();
      sim.injectFault({
        path: STK_QUERY,
        kind: 'status',
        status: 401,
        body: { requestId: 'x', errorCode: '404.001.03', errorMessage: 'Invalid Access Token' },
        times: 2,
      });
      const oauthBefore = count(OAUTH);
      const error = await caught(client.stkQuery('ws_CO_unknown'));
      expect(error).toMatchObject({ status: 401, errorCode: '404.001.03', invalidToken: true, retryable: false });
      expect(count(OAUTH) - oauthBefore).toBe(1);
    });

    it('is refreshed shortly before it expires', async () => {
      const shortLived = await startDarajaSimulator({ tokenTtlSeconds: 2, callbackDelayMs: 50 });
      extraSimulators.push(shortLived);
      const { client, redis } = newClient(ownRedisPrefix(), {}, {}, shortLived);
      const first = await client.accessToken();
      // The key is per Daraja endpoint and consumer key.
      const id = createHash('sha256')
        .update(`${shortLived.url}\n${MPESA_DEVELOPMENT_DEFAULTS.consumerKey}`)
        .digest('hex')
        .slice(0, 16);
      expect(await redis.get(`mpesa:token:${id}`)).toBe(first);
      const ttl = await redis.pttl(`mpesa:token:${id}`);
      // Kept for its 2 s life minus a tenth, so no call goes out with a token about to expire.
      expect(ttl).toBeGreaterThan(1_500);
      expect(ttl).toBeLessThanOrEqual(1_800);
      await sleep(1_900);
      const second = await client.accessToken();
      expect(second).not.toBe(first);
      expect(count(OAUTH, shortLived)).toBe(2);
    });

    it('reports wrong consumer credentials as a non-retryable rejection', async () => {
      const { client } = newClient(ownRedisPrefix(), {}, { SAFARICOM_CONSUMER_SECRET: 'not-the-secret' });
      const error = await caught(client.accessToken());
      expect(error).toMatchObject({
        operation: 'oauth',
        status: 400,
        errorCode: '400.008.01',
        retryable: false,
        kind: 'unavailable',
      });
    });
  });

  describe('STK push', () => {
    let client: DarajaClient;
    beforeAll(() => {
      client = newClient(ownRedisPrefix()).client;
    });

    it("sends Daraja's request fields, with a valid Password and a Nairobi timestamp", async () => {
      const since = Date.now();
      const phone = uniquePhone();
      await push(client, phone, 250);
      const sent = lastBody(STK_PUSH);
      expect(Object.keys(sent).sort()).toEqual(fixtureKeys('daraja-stk-request.json'));
      expect(sent).toMatchObject({
        BusinessShortCode: '174379',
        PartyA: phone,
        PartyB: '174379',
        PhoneNumber: phone,
        Amount: 250,
        TransactionType: 'CustomerPayBillOnline',
      });
      expect(sent.Password).toBe(
        stkPassword(
          '174379',
          'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919',
          String(sent.Timestamp),
        ),
      );
      expectDuringTest(darajaTimestampToDate(String(sent.Timestamp)), since);
    });

    it.each<[SimulatorOutcome, number]>([
      ['success', 0],
      ['cancelled', 1032],
      ['insufficient_funds', 1],
      ['wrong_pin', 2001],
      ['unreachable', 1037],
    ])("%s: the callback arrives in Daraja's shape with ResultCode %i", async (outcome, code) => {
      const since = Date.now();
      const phone = uniquePhone();
      sim.setOutcome(phone, outcome);
      const { checkoutRequestId, merchantRequestId } = await push(client, phone, 1);
      const [arrived] = await eventually(
        () => stkCallbacksFor(checkoutRequestId),
        (r) => r.length > 0,
      );
      const callback = parseStkCallback(JSON.parse(arrived.text));
      expect(callback).toMatchObject({ checkoutRequestId, merchantRequestId, resultCode: code });
      if (code === 0) {
        expect(arrived.text).toContain('{"Name":"Amount","Value":1.00}');
        expect(callback).toMatchObject({ amount: 1, phoneNumber: phone });
        expect(callback.receipt).toMatch(/^[A-Z][A-L][A-Z0-9]{8}$/);
        expectDuringTest(darajaTimestampToDate(callback.transactionDate!), since);
      } else {
        expect(callback.amount).toBeUndefined();
        expect(arrived.text).not.toContain('CallbackMetadata');
      }
      const queried = await client.stkQuery(checkoutRequestId);
      expect(queried).toMatchObject({ state: 'done', resultCode: code, checkoutRequestId, merchantRequestId });
    });

    it('duplicate_callback: the same bytes arrive twice, the second shortly after', async () => {
      const phone = uniquePhone();
      sim.setOutcome(phone, 'duplicate_callback');
      const { checkoutRequestId } = await push(client, phone, 40);
      const both = await eventually(
        () => stkCallbacksFor(checkoutRequestId),
        (r) => r.length === 2,
      );
      expect(both[0].text).toBe(both[1].text);
      expect(parseStkCallback(JSON.parse(both[0].text))).toMatchObject({ resultCode: 0, amount: 40 });
      await sleep(200);
      expect(stkCallbacksFor(checkoutRequestId)).toHaveLength(2);
    });

    it('no_callback: nothing arrives; STK query says "pending", then 1037', async () => {
      const slow = await startDarajaSimulator({ callbackDelayMs: 400 });
      extraSimulators.push(slow);
      const slowClient = newClient(ownRedisPrefix(), {}, {}, slow).client;
      const phone = uniquePhone();
      slow.setOutcome(phone, 'no_callback');
      const { checkoutRequestId } = await slowClient.stkPush({
        phoneNumber: phone,
        amount: 5,
        accountReference: 'A',
        description: 'B',
        callbackUrl: `${receiver.url}/stk`,
      });
      expect(await slowClient.stkQuery(checkoutRequestId)).toEqual({
        state: 'pending',
        checkoutRequestId,
        description: 'The transaction is being processed',
      });
      await sleep(600);
      expect(await slowClient.stkQuery(checkoutRequestId)).toMatchObject({ state: 'done', resultCode: 1037 });
      expect(stkCallbacksFor(checkoutRequestId)).toHaveLength(0);
    });

    it('lost_callback: the payment succeeded, only STK query tells', async () => {
      const phone = uniquePhone();
      sim.setOutcome(phone, 'lost_callback');
      const { checkoutRequestId } = await push(client, phone, 7);
      const done = await eventually(
        () => client.stkQuery(checkoutRequestId),
        (r) => r.state === 'done',
      );
      expect(done).toMatchObject({ resultCode: 0, resultDesc: 'The service request is processed successfully.' });
      expect(stkCallbacksFor(checkoutRequestId)).toHaveLength(0);
    });

    it('outcomes can be scripted over HTTP too (for the simulator page)', async () => {
      const phone = uniquePhone();
      const response = await fetch(`${sim.url}/simulator/outcomes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ phoneNumber: phone, outcome: 'cancelled' }),
      });
      expect(response.status).toBe(200);
      const { checkoutRequestId } = await push(client, phone);
      const [arrived] = await eventually(
        () => stkCallbacksFor(checkoutRequestId),
        (r) => r.length > 0,
      );
      expect(parseStkCallback(JSON.parse(arrived.text)).resultCode).toBe(1032);
      const bad = await fetch(`${sim.url}/simulator/outcomes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ phoneNumber: phone, outcome: 'maybe' }),
      });
      expect(bad.status).toBe(400);
    });

    it("refuses what Daraja refuses, in Daraja's error envelope, and checks the form before sending", async () => {
      const wrongPasskey = newClient(ownRedisPrefix(), { passkey: 'not-the-passkey' }).client;
      const error = await caught(push(wrongPasskey, uniquePhone()));
      expect(error).toMatchObject({
        operation: 'stk_push',
        status: 400,
        errorCode: '400.002.02',
        errorMessage: 'Bad Request - Invalid Password',
        retryable: false,
        kind: 'invalid',
      });
      expect(error.requestId).toMatch(/^[0-9a-f]{4}-/);
      expect(JSON.stringify({ ...error, message: error.message })).not.toContain(SECRET);

      const before = count(STK_PUSH);
      const long = await caught(
        client.stkPush({
          phoneNumber: uniquePhone(),
          amount: 1,
          accountReference: 'THIRTEEN-CHAR',
          description: 'x',
          callbackUrl: `${receiver.url}/stk`,
        }),
      );
      expect(long).toMatchObject({ code: 'MPESA.INVALID_REQUEST', errorCode: 'INVALID_REQUEST' });
      await expect(
        client.stkPush({
          phoneNumber: uniquePhone(),
          amount: 1.5,
          accountReference: 'A',
          description: 'x',
          callbackUrl: `${receiver.url}/stk`,
        }),
      ).rejects.toThrow('whole shillings');
      await expect(
        client.stkPush({
          phoneNumber: '0712345678',
          amount: 1,
          accountReference: 'A',
          description: 'x',
          callbackUrl: `${receiver.url}/stk`,
        }),
      ).rejects.toThrow('254712345678');
      expect(count(STK_PUSH)).toBe(before);
    });
  });

  describe('timeouts and network failures', () => {
    let client: DarajaClient;
    beforeAll(async () => {
      client = newClient(ownRedisPrefix(), { timeoutMs: 300 }).client;
      await client.accessToken();
    });

    it('a slow STK push times out and is NOT sent again (a second send is a second prompt)', async () => {
      sim.injectFault({ path: STK_PUSH, kind: 'delay', delayMs: 1_000 });
      const before = count(STK_PUSH);
      // The simulator answers after 1 s; a TIMEOUT (not the answer) shows the client gave up at 300 ms.
      const error = await caught(push(client, uniquePhone()));
      expect(error).toMatchObject({ errorCode: 'TIMEOUT', retryable: true, outcomeUnknown: true, kind: 'unavailable' });
      expect(count(STK_PUSH) - before).toBe(1);
    });

    it('a dropped connection fails an STK push after one attempt', async () => {
      sim.injectFault({ path: STK_PUSH, kind: 'reset' });
      const before = count(STK_PUSH);
      const error = await caught(push(client, uniquePhone()));
      expect(error).toMatchObject({ errorCode: 'NETWORK', retryable: true, outcomeUnknown: true });
      expect(count(STK_PUSH) - before).toBe(1);
    });

    it('STK query is retried after a dropped connection and after a timeout', async () => {
      // Held: the query's answer is "still being processed" whenever it gets through, not a
      // result that depends on how long the faults took.
      const phone = uniquePhone();
      sim.setOutcome(phone, 'hold');
      const { checkoutRequestId } = await push(client, phone);
      sim.injectFault({ path: STK_QUERY, kind: 'reset' });
      sim.injectFault({ path: STK_QUERY, kind: 'delay', delayMs: 1_000 });
      const before = count(STK_QUERY);
      const result = await client.stkQuery(checkoutRequestId);
      expect(result.state).toBe('pending');
      expect(count(STK_QUERY) - before).toBe(3);
    });

    it('retries stop after the configured attempts', async () => {
      sim.injectFault({ path: STK_QUERY, kind: 'reset', times: 3 });
      const before = count(STK_QUERY);
      const error = await caught(client.stkQuery('ws_CO_whatever'));
      expect(error).toMatchObject({ errorCode: 'NETWORK', retryable: true });
      expect(count(STK_QUERY) - before).toBe(3);
    });

    it('an unreachable Daraja is reported as not sent', async () => {
      const gone = await startDarajaSimulator();
      const url = gone.url;
      await gone.close();
      const config = testConfig({ REDIS_KEY_PREFIX: ownRedisPrefix(), MPESA_BASE_URL: url });
      const redis = createRedisConnection(config.redis, 'app');
      redisClients.push(redis);
      const lost = new DarajaClient(redis, {
        ...darajaClientOptions(config.mpesa),
        retries: 1,
        retryBackoffMs: 10,
      });
      const error = await caught(lost.accessToken());
      expect(error).toMatchObject({ operation: 'oauth', errorCode: 'NETWORK', retryable: true, outcomeUnknown: false });
    });
  });

  describe('B2C', () => {
    let client: DarajaClient;
    beforeAll(() => {
      client = newClient(ownRedisPrefix()).client;
    });
    const b2c = (
      c: DarajaClient,
      phoneNumber: string,
      originatorConversationId = `deni-${randomBytes(6).toString('hex')}`,
      amount = 500,
    ) =>
      c.b2c({
        originatorConversationId,
        amount,
        phoneNumber,
        remarks: 'Deni withdrawal',
        resultUrl: `${receiver.url}/b2c/result`,
        queueTimeoutUrl: `${receiver.url}/b2c/timeout`,
        occasion: 'Withdrawal',
      });
    const resultsFor = (suffix: string, id: string) =>
      receiver.on(suffix).filter((r) => (JSON.parse(r.text) as ResultCallback).Result.OriginatorConversationID === id);

    it("pays with a SecurityCredential the simulator decrypts (its certificate fetched from it), in Daraja's request shape", async () => {
      const since = Date.now();
      const phone = uniquePhone();
      const id = `deni-${randomBytes(6).toString('hex')}`;
      const accepted = await b2c(client, phone, id, 1_250);
      expect(accepted).toMatchObject({
        originatorConversationId: id,
        responseCode: '0',
        responseDescription: 'Accept the service request successfully.',
      });
      expect(accepted.conversationId).toMatch(/^AG_\d{8}_[0-9a-f]{20}$/);
      const sent = lastBody(B2C);
      expect(Object.keys(sent).sort()).toEqual(fixtureKeys('daraja-b2c-request.json'));
      expect(sent).toMatchObject({
        InitiatorName: 'testapi',
        CommandID: 'BusinessPayment',
        PartyA: '600000',
        PartyB: phone,
        Occassion: 'Withdrawal',
      });
      const [arrived] = await eventually(
        () => resultsFor('/b2c/result', id),
        (r) => r.length > 0,
      );
      const result = parseB2cResult(JSON.parse(arrived.text));
      expect(result).toMatchObject({
        resultCode: 0,
        originatorConversationId: id,
        conversationId: accepted.conversationId,
        amount: 1_250,
        receiverName: `${phone} - JOHN DOE`,
      });
      expect(result.receipt).toBe(result.transactionId);
      expectDuringTest(result.completedAt, since);
      expect(arrived.text).toMatch(/"Key":"B2CUtilityAccountAvailableFunds","Value":\d+\.\d\d\}/);
    });

    it('with a wrong initiator password: accepted, then a 2001 result', async () => {
      const wrong = newClient(ownRedisPrefix(), { initiatorPassword: 'wrong-password' }).client;
      const id = `deni-${randomBytes(6).toString('hex')}`;
      expect((await b2c(wrong, uniquePhone(), id)).responseCode).toBe('0');
      const [arrived] = await eventually(
        () => resultsFor('/b2c/result', id),
        (r) => r.length > 0,
      );
      const result = parseB2cResult(JSON.parse(arrived.text));
      expect(result).toMatchObject({ resultCode: 2001, resultDesc: 'The initiator information is invalid.' });
      expect(result.amount).toBeUndefined();
    });

    it("with Safaricom's certificate from MPESA_CERT_PATH (here the simulator's, written to a file)", async () => {
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'deni-cert-')), 'cert.cer');
      writeFileSync(file, sim.certificatePem);
      const fromFile = newClient(ownRedisPrefix(), {}, { MPESA_CERT_PATH: file }).client;
      const id = `deni-${randomBytes(6).toString('hex')}`;
      await b2c(fromFile, uniquePhone(), id);
      const [arrived] = await eventually(
        () => resultsFor('/b2c/result', id),
        (r) => r.length > 0,
      );
      expect(parseB2cResult(JSON.parse(arrived.text)).resultCode).toBe(0);
    });

    it.each<[SimulatorOutcome, string, number]>([
      ['insufficient_funds', '/b2c/result', 1],
      ['wrong_pin', '/b2c/result', 2001],
      ['queue_timeout', '/b2c/timeout', 1],
    ])('%s: a result at %s with ResultCode %i', async (outcome, suffix, code) => {
      const phone = uniquePhone();
      sim.setOutcome(phone, outcome);
      const id = `deni-${randomBytes(6).toString('hex')}`;
      await b2c(client, phone, id);
      const [arrived] = await eventually(
        () => resultsFor(suffix, id),
        (r) => r.length > 0,
      );
      expect(parseB2cResult(JSON.parse(arrived.text))).toMatchObject({
        resultCode: code,
        originatorConversationId: id,
      });
    });

    it('duplicate_callback sends the result twice; no_callback sends nothing', async () => {
      const twice = uniquePhone();
      sim.setOutcome(twice, 'duplicate_callback');
      const id = `deni-${randomBytes(6).toString('hex')}`;
      await b2c(client, twice, id);
      const both = await eventually(
        () => resultsFor('/b2c/result', id),
        (r) => r.length === 2,
      );
      expect(both[0].text).toBe(both[1].text);

      const never = uniquePhone();
      sim.setOutcome(never, 'no_callback');
      const silent = `deni-${randomBytes(6).toString('hex')}`;
      await b2c(client, never, silent);
      await sleep(300);
      expect([...resultsFor('/b2c/result', silent), ...resultsFor('/b2c/timeout', silent)]).toHaveLength(0);
    });

    it('is not retried after a dropped connection (the outcome is unknown); Daraja refuses a real duplicate', async () => {
      const id = `deni-${randomBytes(6).toString('hex')}`;
      // A client with the current token, so no 401 round adds to the attempts counted below.
      const fresh = newClient(ownRedisPrefix()).client;
      await fresh.accessToken();
      sim.injectFault({ path: B2C, kind: 'reset' });
      const before = count(B2C);
      expect(await caught(b2c(fresh, uniquePhone(), id))).toMatchObject({ outcomeUnknown: true });
      const attempts = sim.requests.filter((r) => r.path === B2C).slice(before);
      expect(attempts.map((r) => (r.body as { OriginatorConversationID: string }).OriginatorConversationID)).toEqual([
        id,
      ]);
      // (This drop happened before the simulator took it, so sending it again is accepted once.)
      expect((await b2c(fresh, uniquePhone(), id)).originatorConversationId).toBe(id);

      const again = await caught(b2c(fresh, uniquePhone(), id));
      expect(again).toMatchObject({ status: 500, errorCode: '500.002.1001', duplicateRequest: true, retryable: false });
    });

    it('refuses an amount outside 10 to 250,000', async () => {
      const error = await caught(b2c(client, uniquePhone(), undefined, 5));
      expect(error).toMatchObject({
        status: 400,
        errorCode: '400.002.02',
        errorMessage: 'Bad Request - Invalid Amount',
      });
    });

    describe('Transaction Status', () => {
      const ask = (c: DarajaClient, originatorConversationId: string) =>
        c.transactionStatus({
          originatorConversationId,
          resultUrl: `${receiver.url}/status/result`,
          queueTimeoutUrl: `${receiver.url}/status/timeout`,
          remarks: 'Deni withdrawal status',
        });
      /** The Result of one status query (its own OriginatorConversationID, from the acknowledgement). */
      const answerTo = async (queryId: string) => {
        const [arrived] = await eventually(
          () =>
            receiver
              .on('/status/result')
              .filter((r) => (JSON.parse(r.text) as ResultCallback).Result.OriginatorConversationID === queryId),
          (r) => r.length > 0,
        );
        return { text: arrived.text, result: parseTransactionStatusResult(JSON.parse(arrived.text)) };
      };

      it("asks in Daraja's request shape; the Result says Completed, with the B2C's receipt and amount", async () => {
        const since = Date.now();
        const id = `deni-${randomBytes(6).toString('hex')}`;
        await b2c(client, uniquePhone(), id, 700);
        const [paid] = await eventually(
          () => resultsFor('/b2c/result', id),
          (r) => r.length > 0,
        );
        const receipt = parseB2cResult(JSON.parse(paid.text)).receipt;

        const ack = await ask(client, id);
        expect(ack).toMatchObject({
          responseCode: '0',
          responseDescription: 'Accept the service request successfully.',
        });
        expect(ack.conversationId).toMatch(/^AG_\d{8}_[0-9a-f]{20}$/);
        const sent = lastBody(STATUS);
        expect(Object.keys(sent).sort()).toEqual(
          [
            'CommandID',
            'Initiator',
            'IdentifierType',
            'Occasion',
            'OriginalConversationID',
            'OriginatorConversationID',
            'PartyA',
            'QueueTimeOutURL',
            'Remarks',
            'ResultURL',
            'SecurityCredential',
          ].sort(),
        );
        expect(sent).toMatchObject({
          Initiator: 'testapi',
          CommandID: 'TransactionStatusQuery',
          OriginatorConversationID: id,
          PartyA: '600000',
          IdentifierType: '4',
        });
        const decrypted = privateDecrypt(
          { key: sim.keyPair.privateKey, padding: constants.RSA_PKCS1_PADDING },
          Buffer.from(String(sent.SecurityCredential), 'base64'),
        );
        expect(decrypted.toString('utf8')).toBe(MPESA_DEVELOPMENT_DEFAULTS.initiatorPassword);

        const { text, result } = await answerTo(ack.originatorConversationId);
        // The same fields as Safaricom's published sample.
        expect(Object.keys((JSON.parse(text) as { Result: object }).Result).sort()).toEqual(
          Object.keys((fixture('daraja-transaction-status-result.json') as { Result: object }).Result).sort(),
        );
        expect(result).toMatchObject({
          resultCode: '0',
          originatorConversationId: ack.originatorConversationId,
          conversationId: ack.conversationId,
          transaction: { status: 'Completed', receipt, amount: 700, originatorConversationId: id },
        });
        expectDuringTest(result.transaction.finalisedAt, since);
      });

      it.each<[SimulatorOutcome, string]>([
        ['insufficient_funds', 'Failed'],
        ['queue_timeout', 'Expired'],
        ['no_callback', 'Expired'],
        ['lost_callback', 'Completed'],
      ])('%s: Transaction Status says %s', async (outcome, status) => {
        const phone = uniquePhone();
        sim.setOutcome(phone, outcome);
        const id = `deni-${randomBytes(6).toString('hex')}`;
        await b2c(client, phone, id, 300);
        await sleep(150); // the simulator decides a B2C 50 ms after it
        const { result } = await answerTo((await ask(client, id)).originatorConversationId);
        expect(result).toMatchObject({
          resultCode: '0',
          transaction: { status, amount: 300, originatorConversationId: id },
        });
        if (status === 'Expired') expect(result.transaction.receipt).toBeUndefined();
        else expect(result.transaction.receipt).toMatch(/^[A-Z0-9]{10}$/);
      });

      it('gives no transaction status for an unknown transaction or with a wrong initiator password', async () => {
        const unknown = await answerTo((await ask(client, 'deni-never-sent')).originatorConversationId);
        expect(unknown.result.resultCode).not.toBe('0');
        expect(unknown.result.transaction).toEqual({});

        const id = `deni-${randomBytes(6).toString('hex')}`;
        await b2c(client, uniquePhone(), id);
        await sleep(150);
        const wrong = newClient(ownRedisPrefix(), { initiatorPassword: 'wrong-password' }).client;
        const refused = await answerTo((await ask(wrong, id)).originatorConversationId);
        expect(refused.result).toMatchObject({
          resultCode: '2001',
          resultDesc: 'The initiator information is invalid.',
          transaction: {},
        });
      });

      it('is retried after a dropped connection (a query changes nothing), and needs an id', async () => {
        const fresh = newClient(ownRedisPrefix()).client;
        await fresh.accessToken();
        sim.injectFault({ path: STATUS, kind: 'reset' });
        const before = count(STATUS);
        expect((await ask(fresh, 'deni-whatever')).responseCode).toBe('0');
        expect(count(STATUS) - before).toBe(2);
        const error = await caught(
          fresh.transactionStatus({
            resultUrl: `${receiver.url}/status/result`,
            queueTimeoutUrl: `${receiver.url}/status/timeout`,
            remarks: 'x',
          }),
        );
        expect(error).toMatchObject({ code: 'MPESA.INVALID_REQUEST', operation: 'transaction_status' });
        expect(count(STATUS) - before).toBe(2);
      });
    });
  });

  describe('C2B', () => {
    it('registers URLs; a payment sends validation, then confirmation, with a masked MSISDN', async () => {
      const { client } = newClient(ownRedisPrefix());
      const registered = await client.registerC2bUrls({
        confirmationUrl: `${receiver.url}/c2b/confirmation`,
        validationUrl: `${receiver.url}/c2b/validation`,
        responseType: 'Completed',
      });
      expect(registered).toMatchObject({ responseCode: '0', responseDescription: 'Success' });
      expect(registered.originatorConversationId).toBeTruthy();

      const payment = await sim.c2b({ billRefNumber: 'DENI7Q2X', amount: 500, msisdn: '254712345678' });
      expect(payment.completed).toBe(true);
      const validation = parseC2bRequest(JSON.parse(payment.validation!.text));
      const confirmation = parseC2bRequest(JSON.parse(payment.confirmation!.text));
      for (const body of [validation, confirmation]) {
        expect(body).toMatchObject({
          transId: payment.transId,
          amount: 500,
          billRefNumber: 'DENI7Q2X',
          shortCode: '174379',
          msisdn: '25471****678',
        });
      }
      expect(validation.orgAccountBalance).toBeUndefined();
      expect(confirmation.orgAccountBalance).toMatch(/^\d+\.\d\d$/);
      expect(Object.keys(JSON.parse(payment.confirmation!.text) as object).sort()).toEqual(
        fixtureKeys('daraja-c2b-confirmation.json'),
      );

      // Rejected at validation (over the control route): no confirmation follows.
      receiver.rejectedBillRefs.add('UNKNOWN1');
      const response = await fetch(`${sim.url}/simulator/c2b`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ billRefNumber: 'UNKNOWN1', amount: 100 }),
      });
      const rejected = (await response.json()) as { transId: string; completed: boolean; confirmation?: unknown };
      expect(rejected.completed).toBe(false);
      expect(rejected.confirmation).toBeUndefined();
      expect(
        receiver
          .on('/c2b/confirmation')
          .filter((r) => (JSON.parse(r.text) as { TransID: string }).TransID === rejected.transId),
      ).toHaveLength(0);
    });
  });

  describe('in the application (MpesaModule)', () => {
    it('exports DarajaClient, pointed at MPESA_BASE_URL', async () => {
      const { app } = await startTestApp({ MPESA_BASE_URL: sim.url, APP_ROLE: 'api' });
      try {
        const before = count(OAUTH);
        const { checkoutRequestId } = await push(app.get(DarajaClient), uniquePhone());
        expect(checkoutRequestId).toMatch(/^ws_CO_/);
        expect(count(OAUTH) - before).toBe(1);
      } finally {
        await app.close();
      }
    });

    it("by default in tests talks to the test's own simulators over HTTP, reads their certificate, and closes them with the app", async () => {
      const { app, daraja } = await startTestApp({ APP_ROLE: 'api' });
      const url = daraja.url;
      try {
        const phone = uniquePhone();
        daraja.setOutcome(phone, 'insufficient_funds');
        const client = app.get(DarajaClient);
        const { checkoutRequestId } = await push(client, phone);
        const done = await eventually(
          () => client.stkQuery(checkoutRequestId),
          (r) => r.state === 'done',
          5_000,
        );
        expect(done).toMatchObject({ resultCode: 1 });
        // B2C too: the client reads the simulator's certificate from it over HTTP.
        expect(
          (
            await client.b2c({
              originatorConversationId: `deni-${randomBytes(4).toString('hex')}`,
              amount: 100,
              phoneNumber: phone,
              remarks: 'ok',
              resultUrl: `${receiver.url}/b2c/result`,
              queueTimeoutUrl: `${receiver.url}/b2c/timeout`,
            })
          ).responseCode,
        ).toBe('0');
      } finally {
        await app.close();
      }
      await expect(fetch(`${url}/simulator/certificate`)).rejects.toThrow();
    });

    it('runs no simulator inside itself: with no MPESA_BASE_URL outside development it refuses to build, naming it', async () => {
      const refused: unknown = await startTestApp({ MPESA_BASE_URL: undefined, APP_ROLE: 'api' }).then(
        ({ app }) => app.close(),
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(ConfigValidationError);
      expect((refused as ConfigValidationError).problems).toEqual([expect.stringMatching(/^MPESA_BASE_URL: required/)]);
    });

    it('holds no simulator and listens on nothing but its own port, through a top-up and a withdrawal', async () => {
      const servers = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
      const before = servers();
      const { app } = await startTestApp({ MPESA_BASE_URL: sim.url, APP_ROLE: 'api' });
      try {
        const names = [...app.get(ModulesContainer).values()].flatMap((m) =>
          [...m.providers.values(), ...m.injectables.values()].map((p) => String(p.name)),
        );
        // SimulatorModule is the phone page, a client of the simulators over HTTP.
        expect(names.filter((n) => /simulat/i.test(n) && n !== 'SimulatorModule')).toEqual([]);
        await app.listen(0, '127.0.0.1');
        const phone = uniquePhone();
        const client = app.get(DarajaClient);
        await push(client, phone);
        await client.b2c({
          originatorConversationId: `deni-${randomBytes(4).toString('hex')}`,
          amount: 100,
          phoneNumber: phone,
          remarks: 'ok',
          resultUrl: `${receiver.url}/b2c/result`,
          queueTimeoutUrl: `${receiver.url}/b2c/timeout`,
        });
        expect(servers() - before).toBe(1);
      } finally {
        await app.close();
      }
      expect(servers()).toBe(before);
    });
  });
});
