import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Mpesa from 'mpesa-node';
import { eventually } from './support/eventually.js';
import { ProcessTracker } from './support/processes.js';
import { startSimulatorsProcess, type RunningSimulators } from './support/simulators.js';

/**
 * The Daraja simulator stays honest to what real clients send: Safaricom's own Node library
 * (`mpesa-node`, a dev dependency), pointed at the simulators process, gets Daraja's answers for
 * OAuth, STK push and query, B2C (its v1 path) and C2B register and simulate, and the callbacks
 * reach a receiver of the test. The client is configured only with what the process prints at
 * start-up (its development credentials and the address of its certificate).
 */

/** Safaricom's sandbox shortcodes and test number (the Daraja test credentials). */
const PAYBILL = '174379';
const C2B_SHORTCODE = '600984';
const B2C_SHORTCODE = '600997';
const CUSTOMER = '254708374149';

interface StartupLine {
  url: string;
  daraja: {
    consumerKey: string;
    consumerSecret: string;
    passkey: string;
    initiatorName: string;
    initiatorPassword: string;
    certificate: string;
  };
}

interface Received {
  path: string;
  body: Record<string, unknown>;
}

/** Records every POST; a C2B validation is accepted as Safaricom documents. */
async function startReceiver(): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (text += chunk));
    request.on('end', () => {
      received.push({ path: request.url ?? '', body: JSON.parse(text) as Record<string, unknown> });
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify(
          request.url === '/c2b/validation'
            ? { ResultCode: '0', ResultDesc: 'Accepted' }
            : { ResultCode: 0, ResultDesc: 'Success' },
        ),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, server };
}

describe('a third-party Daraja client (mpesa-node) against the simulators process', () => {
  const tracker = new ProcessTracker();
  const dataDir = mkdtempSync(join(tmpdir(), 'deni-simulators-'));
  let simulators: RunningSimulators;
  let startup: StartupLine;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let mpesa: Mpesa;

  beforeAll(async () => {
    simulators = await startSimulatorsProcess(tracker, dataDir);
    startup = simulators.process.output.stdout
      .split('\n')
      .filter((line) => line.includes('"url"'))
      .map((line) => JSON.parse(line) as StartupLine)[0];
    receiver = await startReceiver();
    // mpesa-node encrypts the initiator password with the certificate file it is given.
    const certPath = join(dataDir, 'simulator-certificate.cer');
    writeFileSync(certPath, await (await fetch(startup.daraja.certificate)).text());
    mpesa = new Mpesa({
      consumerKey: startup.daraja.consumerKey,
      consumerSecret: startup.daraja.consumerSecret,
      environment: 'sandbox',
      shortCode: C2B_SHORTCODE,
      initiatorName: startup.daraja.initiatorName,
      lipaNaMpesaShortCode: PAYBILL,
      lipaNaMpesaShortPass: startup.daraja.passkey,
      securityCredential: startup.daraja.initiatorPassword,
      certPath,
    });
    mpesa.baseURL = simulators.url;
  });

  afterAll(async () => {
    await new Promise((resolve) => receiver?.server.close(resolve));
    await tracker.killAll();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const callbacks = (path: string) => () => receiver.received.filter((r) => r.path === path);

  it('gets a token with the printed development credentials', async () => {
    expect(startup.url).toBe(simulators.url);
    const { status, data } = await mpesa.oAuth();
    expect(status).toBe(200);
    expect(data).toEqual({ access_token: expect.stringMatching(/^\w{20,}$/) as unknown, expires_in: 3599 });
  });

  it('answers an STK push and its query as Daraja does, and calls the CallBackURL', async () => {
    const push = await mpesa.lipaNaMpesaOnline(CUSTOMER, 10, `${receiver.url}/stk`, 'DENI-TEST', 'Deni top-up');
    expect(push.data).toEqual({
      MerchantRequestID: expect.any(String) as unknown,
      CheckoutRequestID: expect.stringMatching(/^ws_CO_\d+$/) as unknown,
      ResponseCode: '0',
      ResponseDescription: 'Success. Request accepted for processing',
      CustomerMessage: 'Success. Request accepted for processing',
    });
    const checkoutRequestId = push.data.CheckoutRequestID;
    const [callback] = await eventually(callbacks('/stk'), (list) => list.length > 0, 15_000);
    expect(callback.body).toMatchObject({
      Body: { stkCallback: { CheckoutRequestID: checkoutRequestId, ResultCode: 0 } },
    });

    const query = await mpesa.lipaNaMpesaQuery(String(checkoutRequestId));
    expect(query.data).toMatchObject({
      ResponseCode: '0',
      CheckoutRequestID: checkoutRequestId,
      MerchantRequestID: push.data.MerchantRequestID,
      ResultCode: '0',
    });
  });

  it("refuses mpesa-node's default TransactionDesc, longer than Safaricom's documented 13 characters", async () => {
    // mpesa-node's default is 'Lipa na mpesa online' (20 characters); Daraja's M-Pesa Express
    // page: "TransactionDesc | Additional information/comment for the request. Max 13 characters."
    await expect(
      mpesa.lipaNaMpesaOnline(CUSTOMER, 10, `${receiver.url}/stk-default`, 'DENI-TEST'),
    ).rejects.toMatchObject({
      response: {
        status: 400,
        data: { errorCode: '400.002.02', errorMessage: 'Bad Request - Invalid TransactionDesc' },
      },
    });
  });

  it('accepts a B2C payment on the v1 path, with the SecurityCredential mpesa-node encrypts, and pays it', async () => {
    const payment = await mpesa.b2c(
      B2C_SHORTCODE,
      CUSTOMER,
      150,
      `${receiver.url}/b2c/timeout`,
      `${receiver.url}/b2c/result`,
    );
    expect(payment.data).toEqual({
      ConversationID: expect.stringMatching(/^AG_\d{8}_/) as unknown,
      OriginatorConversationID: expect.any(String) as unknown,
      ResponseCode: '0',
      ResponseDescription: 'Accept the service request successfully.',
    });
    const [result] = await eventually(callbacks('/b2c/result'), (list) => list.length > 0, 15_000);
    // ResultCode 0, not 2001 ("The initiator information is invalid."): the credential decrypted.
    expect(result.body).toMatchObject({
      Result: {
        ResultCode: 0,
        OriginatorConversationID: payment.data.OriginatorConversationID,
        ConversationID: payment.data.ConversationID,
      },
    });
    expect(callbacks('/b2c/timeout')()).toEqual([]);
  });

  it('registers C2B URLs, then a simulated payment is validated and confirmed at them', async () => {
    const registered = await mpesa.c2bRegister(`${receiver.url}/c2b/confirmation`, `${receiver.url}/c2b/validation`);
    expect(registered.data).toEqual({
      OriginatorCoversationID: expect.any(String) as unknown,
      ResponseCode: '0',
      ResponseDescription: 'Success',
    });

    const simulated = await mpesa.c2bSimulate(Number(CUSTOMER), 250, 'ACC-42');
    expect(simulated.data).toEqual({
      OriginatorCoversationID: expect.any(String) as unknown,
      ResponseCode: '0',
      ResponseDescription: 'Accept the service request successfully.',
    });
    const [confirmation] = await eventually(callbacks('/c2b/confirmation'), (list) => list.length > 0, 15_000);
    const [validation] = callbacks('/c2b/validation')();
    for (const notice of [validation, confirmation]) {
      expect(notice.body).toMatchObject({
        TransactionType: 'Pay Bill',
        TransAmount: '250.00',
        BusinessShortCode: C2B_SHORTCODE,
        BillRefNumber: 'ACC-42',
        MSISDN: '25470****149',
      });
    }
    expect(confirmation.body.TransID).toBe(validation.body.TransID);
  });

  it('takes a till payment (Buy Goods, no account number) but not a paybill payment without one', async () => {
    const till = '600111';
    const base = `${receiver.url}/till`;
    await mpesa.c2bRegister(`${base}/c2b/confirmation`, `${base}/c2b/validation`, till);
    const simulated = await mpesa.c2bSimulate(CUSTOMER, 75, null, 'CustomerBuyGoodsOnline', till);
    expect(simulated.data).toMatchObject({ ResponseCode: '0' });
    const [confirmation] = await eventually(callbacks('/till/c2b/confirmation'), (list) => list.length > 0, 15_000);
    expect(confirmation.body).toMatchObject({
      TransactionType: 'Buy Goods',
      TransAmount: '75.00',
      BusinessShortCode: till,
      BillRefNumber: '',
    });

    await expect(mpesa.c2bSimulate(CUSTOMER, 75, null, 'CustomerPayBillOnline', till)).rejects.toMatchObject({
      response: { status: 400, data: { errorMessage: 'Bad Request - Invalid BillRefNumber' } },
    });
  });
});
