import { constants, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { MPESA_DEVELOPMENT_DEFAULTS } from '../config/app-config.js';
import {
  c2bValidationAnswer,
  C2B_REJECTION_CODES,
  darajaTimestampToDate,
  DarajaPayloadError,
  nairobiTimestamp,
  parseB2cResponse,
  parseB2cResult,
  parseC2bRequest,
  parseDarajaErrorBody,
  parseOAuthResponse,
  parseStkCallback,
  parseStkPushResponse,
  parseStkQueryResponse,
  parseTransactionStatusResponse,
  parseTransactionStatusResult,
  securityCredential,
  stkPassword,
  wholeShillings,
} from './daraja.parsers.js';
import { selfSignedCertificate } from '../simulators/daraja/self-signed-certificate.js';

const FIXTURES = path.resolve(process.cwd(), 'test/fixtures/providers');

/** The fixture's exact bytes, parsed as a JSON body parser would. */
function fixtureText(name: string): string {
  return readFileSync(path.join(FIXTURES, name), 'utf8');
}
function fixture(name: string): unknown {
  return JSON.parse(fixtureText(name));
}

const PARSERS = {
  parseStkCallback,
  parseC2bRequest,
  parseB2cResult,
  parseTransactionStatusResult,
  parseStkQueryResponse,
  parseStkPushResponse,
  parseB2cResponse,
  parseTransactionStatusResponse,
  parseOAuthResponse,
};

function rejects(parse: (body: unknown) => unknown, body: unknown, field?: string | RegExp): void {
  let thrown: unknown;
  try {
    parse(body);
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(DarajaPayloadError);
  if (field instanceof RegExp) expect((thrown as DarajaPayloadError).message).toMatch(field);
  else if (field) expect((thrown as DarajaPayloadError).field).toBe(field);
}

describe('Daraja parsers', () => {
  it('covers every Daraja fixture in this file', () => {
    const covered = [
      'daraja-b2c-error-response.json',
      'daraja-b2c-request.json',
      'daraja-b2c-response.json',
      'daraja-b2c-result-failure.json',
      'daraja-b2c-result-success.json',
      'daraja-c2b-confirmation.json',
      'daraja-c2b-validation-response-accept.json',
      'daraja-c2b-validation-response-reject.json',
      'daraja-c2b-validation.json',
      'daraja-oauth-response.json',
      'daraja-stk-callback-1037-sandbox-capture.json',
      'daraja-stk-callback-cancelled.json',
      'daraja-stk-callback-success-sandbox-capture.json',
      'daraja-stk-callback-success.json',
      'daraja-stk-error-response.json',
      'daraja-stk-query-request.json',
      'daraja-stk-query-response.json',
      'daraja-stk-request.json',
      'daraja-stk-response.json',
      'daraja-transaction-status-result.json',
    ];
    expect(
      readdirSync(FIXTURES)
        .filter((f) => f.startsWith('daraja-'))
        .sort(),
    ).toEqual(covered);
  });

  describe('STK callback', () => {
    it('reads the published success sample, whose Amount is written 1.00', () => {
      expect(fixtureText('daraja-stk-callback-success.json')).toContain('"Value": 1.00');
      expect(parseStkCallback(fixture('daraja-stk-callback-success.json'))).toEqual({
        merchantRequestId: '29115-34620561-1',
        checkoutRequestId: 'ws_CO_191220191020363925',
        resultCode: 0,
        resultDesc: 'The service request is processed successfully.',
        amount: 1,
        receipt: 'NLJ7RT61SV',
        transactionDate: '20191219102115',
        phoneNumber: '254708374149',
      });
    });

    it('reads the sandbox capture: an item without Value, an integer Amount, redacted values', () => {
      expect(fixtureText('daraja-stk-callback-success-sandbox-capture.json')).toMatch(/"Name": "Balance"\n\s*}/);
      expect(parseStkCallback(fixture('daraja-stk-callback-success-sandbox-capture.json'))).toEqual({
        merchantRequestId: 'ac7b-470b-8df7-23ab3cef38271280493',
        checkoutRequestId: 'ws_CO_REDACTED',
        resultCode: 0,
        resultDesc: 'The service request is processed successfully.',
        amount: 1,
        receipt: '<redacted>',
        transactionDate: '20261006095233',
        phoneNumber: '<redacted>',
      });
    });

    it.each([
      ['daraja-stk-callback-cancelled.json', 1032, 'Request cancelled by user', 'ws_CO_21072024125243250722943992'],
      ['daraja-stk-callback-1037-sandbox-capture.json', 1037, 'No response from user.', 'ws_CO_REDACTED'],
    ])('reads the failure %s (no metadata)', (name, code, desc, checkoutRequestId) => {
      const parsed = parseStkCallback(fixture(name));
      expect(parsed).toMatchObject({ resultCode: code, resultDesc: desc, checkoutRequestId });
      expect(parsed.amount).toBeUndefined();
      expect(parsed.receipt).toBeUndefined();
    });

    it('accepts a string ResultCode, a single Item object, and a string amount "1.00"', () => {
      const body = {
        Body: {
          stkCallback: {
            MerchantRequestID: 'm-1',
            CheckoutRequestID: 'ws_CO_1',
            ResultCode: '0',
            ResultDesc: 'ok',
            CallbackMetadata: { Item: { Name: 'Amount', Value: '1.00' } },
          },
        },
      };
      expect(parseStkCallback(body)).toEqual({
        merchantRequestId: 'm-1',
        checkoutRequestId: 'ws_CO_1',
        resultCode: 0,
        resultDesc: 'ok',
        amount: 1,
      });
    });

    it.each<[string, unknown, string | RegExp]>([
      ['null', null, '(body)'],
      ['an array', [], '(body)'],
      ['a string', 'Body', '(body)'],
      ['no Body', { stkCallback: {} }, 'Body'],
      ['no stkCallback', { Body: {} }, 'Body.stkCallback'],
      [
        'no CheckoutRequestID',
        { Body: { stkCallback: { MerchantRequestID: 'm', ResultCode: 0 } } },
        'Body.stkCallback.CheckoutRequestID',
      ],
      [
        'an empty MerchantRequestID',
        { Body: { stkCallback: { MerchantRequestID: ' ', CheckoutRequestID: 'c', ResultCode: 0 } } },
        'Body.stkCallback.MerchantRequestID',
      ],
      [
        'a word as ResultCode',
        { Body: { stkCallback: { MerchantRequestID: 'm', CheckoutRequestID: 'c', ResultCode: 'zero' } } },
        'Body.stkCallback.ResultCode',
      ],
      [
        'a fractional ResultCode',
        { Body: { stkCallback: { MerchantRequestID: 'm', CheckoutRequestID: 'c', ResultCode: 0.5 } } },
        'Body.stkCallback.ResultCode',
      ],
      [
        'a boolean ResultDesc',
        { Body: { stkCallback: { MerchantRequestID: 'm', CheckoutRequestID: 'c', ResultCode: 0, ResultDesc: true } } },
        'Body.stkCallback.ResultDesc',
      ],
    ])('rejects %s', (_label, body, field) => rejects(parseStkCallback, body, field));

    const withItems = (items: unknown) => ({
      Body: {
        stkCallback: {
          MerchantRequestID: 'm',
          CheckoutRequestID: 'c',
          ResultCode: 0,
          ResultDesc: 'ok',
          CallbackMetadata: { Item: items },
        },
      },
    });
    it.each<[string, unknown]>([
      ['a fractional amount 1.5', [{ Name: 'Amount', Value: 1.5 }]],
      ['a fractional amount "1.50"', [{ Name: 'Amount', Value: '1.50' }]],
      ['a zero amount', [{ Name: 'Amount', Value: 0 }]],
      ['a negative amount', [{ Name: 'Amount', Value: -5 }]],
      ['an amount that is a word', [{ Name: 'Amount', Value: 'ten' }]],
      ['an item that is not an object', ['Amount']],
      ['an item without a Name', [{ Value: 1 }]],
      ['a receipt that is an object', [{ Name: 'MpesaReceiptNumber', Value: { x: 1 } }]],
    ])('rejects metadata with %s', (_label, items) => rejects(parseStkCallback, withItems(items), /CallbackMetadata/));
  });

  describe('C2B validation and confirmation', () => {
    it('reads the validation sample: TransAmount "10", masked MSISDN, blank fields as absent', () => {
      expect(parseC2bRequest(fixture('daraja-c2b-validation.json'))).toEqual({
        transId: 'RKTQDM7W6S',
        transType: 'Pay Bill',
        transTime: '20191122063845',
        amount: 10,
        billRefNumber: 'invoice008',
        shortCode: '600638',
        msisdn: '25470****149',
        invoiceNumber: undefined,
        thirdPartyTransId: undefined,
        orgAccountBalance: undefined,
        firstName: 'John',
        middleName: undefined,
        lastName: 'Doe',
      });
    });

    it('reads the confirmation sample: TransAmount "5.00", the other masking, the balance', () => {
      expect(parseC2bRequest(fixture('daraja-c2b-confirmation.json'))).toMatchObject({
        transId: 'RKL51ZDR4F',
        amount: 5,
        billRefNumber: 'Sample Transaction',
        shortCode: '600966',
        msisdn: '2547 ***** 126',
        orgAccountBalance: '25.00',
        firstName: 'NICHOLAS',
      });
    });

    it('answers validation exactly as the published accept and reject bodies', () => {
      expect(c2bValidationAnswer()).toEqual(fixture('daraja-c2b-validation-response-accept.json'));
      expect(c2bValidationAnswer(C2B_REJECTION_CODES.invalidMsisdn)).toEqual(
        fixture('daraja-c2b-validation-response-reject.json'),
      );
    });

    const valid = fixture('daraja-c2b-validation.json') as Record<string, unknown>;
    it.each<[string, Record<string, unknown>, string]>([
      ['no TransID', { ...valid, TransID: undefined }, 'TransID'],
      ['a fractional amount', { ...valid, TransAmount: '10.50' }, 'TransAmount'],
      ['an amount that is a word', { ...valid, TransAmount: 'ten' }, 'TransAmount'],
      ['no MSISDN', { ...valid, MSISDN: undefined }, 'MSISDN'],
      ['no shortcode', { ...valid, BusinessShortCode: '' }, 'BusinessShortCode'],
      ['a numeric FirstName', { ...valid, FirstName: 42 }, 'FirstName'],
    ])('rejects %s', (_label, body, field) => rejects(parseC2bRequest, body, field));
  });

  describe('B2C result', () => {
    it('reads the success sample with its parameters', () => {
      const parsed = parseB2cResult(fixture('daraja-b2c-result-success.json'));
      expect(parsed).toEqual({
        resultType: 0,
        resultCode: 0,
        resultDesc: 'The service request is processed successfully.',
        originatorConversationId: '53e3-4aa8-9fe0-8fb5e4092cdd3533373',
        conversationId: 'AG_20240706_2010364430d9bbdaf872',
        transactionId: 'SG632NMUAB',
        amount: 10,
        receipt: 'SG632NMUAB',
        receiverName: '254705912645 - NICHOLAS JOHN SONGOK',
        receiverPhone: '254705912645',
        // "06.07.2024 22:48:52" is Nairobi time (UTC+3), day first.
        completedAt: new Date('2024-07-06T19:48:52Z'),
      });
    });

    it('reads the failure sample: a TransactionID but no ResultParameters', () => {
      expect(parseB2cResult(fixture('daraja-b2c-result-failure.json'))).toEqual({
        resultType: 0,
        resultCode: 2001,
        resultDesc: 'The initiator information is invalid.',
        originatorConversationId: '53e3-4aa8-9fe0-8fb5e4092cdd3544366',
        conversationId: 'AG_20240707_201062f6f6f5804f7a33',
        transactionId: 'SG722NMVXQ',
      });
    });

    it.each([
      ['254705912645 - NICHOLAS JOHN SONGOK', '254705912645'],
      ['2547****645 - JOHN DOE', '2547****645'],
      ['2547 ***** 645 - JOHN DOE', '2547*****645'],
      ['0705912645 - JOHN DOE', '0705912645'],
      ['254705912645', '254705912645'],
      ['JOHN DOE', undefined],
      ['*** - JOHN DOE', undefined],
    ])('reads the receiver number of ReceiverPartyPublicName %j', (name, phone) => {
      const body = fixture('daraja-b2c-result-success.json') as {
        Result: { ResultParameters: { ResultParameter: { Key: string; Value: unknown }[] } };
      };
      body.Result.ResultParameters.ResultParameter.find((p) => p.Key === 'ReceiverPartyPublicName')!.Value = name;
      const parsed = parseB2cResult(body);
      expect(parsed.receiverName).toBe(name);
      expect(parsed.receiverPhone).toBe(phone);
    });

    it('leaves out a completion date in an unexpected format instead of refusing the result', () => {
      const body = fixture('daraja-b2c-result-success.json') as {
        Result: { ResultParameters: { ResultParameter: { Key: string; Value: unknown }[] } };
      };
      body.Result.ResultParameters.ResultParameter.find((p) => p.Key === 'TransactionCompletedDateTime')!.Value =
        '2024-07-06T22:48:52';
      const parsed = parseB2cResult(body);
      expect(parsed.completedAt).toBeUndefined();
      expect(parsed.amount).toBe(10);
    });

    it.each<[string, unknown, string | RegExp]>([
      ['no Result', {}, 'Result'],
      [
        'no OriginatorConversationID',
        { Result: { ResultCode: 0, ConversationID: 'AG_1' } },
        'Result.OriginatorConversationID',
      ],
      [
        'a word ResultCode',
        { Result: { ResultCode: 'ok', OriginatorConversationID: 'o', ConversationID: 'AG_1' } },
        'Result.ResultCode',
      ],
      [
        'a fractional TransactionAmount',
        {
          Result: {
            ResultCode: 0,
            OriginatorConversationID: 'o',
            ConversationID: 'AG_1',
            ResultParameters: { ResultParameter: [{ Key: 'TransactionAmount', Value: 10.5 }] },
          },
        },
        /TransactionAmount/,
      ],
      [
        'ResultParameters that is a string',
        { Result: { ResultCode: 0, OriginatorConversationID: 'o', ConversationID: 'AG_1', ResultParameters: 'x' } },
        'Result.ResultParameters',
      ],
    ])('rejects %s', (_label, body, field) => rejects(parseB2cResult, body, field));
  });

  describe('Transaction Status result', () => {
    it("reads Safaricom's sample: the query's own ids on top, the transaction's in its parameters", () => {
      expect(parseTransactionStatusResult(fixture('daraja-transaction-status-result.json'))).toEqual({
        resultType: 0,
        resultCode: '0',
        resultDesc: 'The service request is processed successfully.',
        originatorConversationId: '3213-416199-2',
        conversationId: 'AG_20180223_0000493344ae97d86f75',
        transactionId: 'MBN0000000',
        transaction: {
          status: 'Completed',
          receipt: 'MBN31H462N',
          amount: 300,
          originatorConversationId: '3211-416020-3',
          conversationId: 'AG_20180223_000041b09c22e613d6c9',
          // "20180223054112" is Nairobi time (UTC+3).
          finalisedAt: new Date('2018-02-23T02:41:12Z'),
        },
      });
    });

    it('keeps a string ResultCode as Daraja sent it, with no transaction when there are no parameters', () => {
      const body = {
        Result: {
          ResultType: 0,
          ResultCode: 'SFC_IC0003',
          ResultDesc: 'Receiver party is invalid',
          OriginatorConversationID: '41ee-4e5a-ac1d-f88e26237e3b6251',
          ConversationID: 'AG_20251106_010010281a6ti4fj86cj',
          TransactionID: 'TK61000000',
          ReferenceData: { ReferenceItem: { Key: 'Occasion' } },
        },
      };
      expect(parseTransactionStatusResult(body)).toEqual({
        resultType: 0,
        resultCode: 'SFC_IC0003',
        resultDesc: 'Receiver party is invalid',
        originatorConversationId: '41ee-4e5a-ac1d-f88e26237e3b6251',
        conversationId: 'AG_20251106_010010281a6ti4fj86cj',
        transactionId: 'TK61000000',
        transaction: {},
      });
      expect(parseTransactionStatusResult({ Result: { ...body.Result, ResultCode: 2001 } }).resultCode).toBe('2001');
    });

    it('reads a single ResultParameter object and an amount written "300.00"', () => {
      const body = {
        Result: {
          ResultCode: 0,
          OriginatorConversationID: 'q',
          ConversationID: 'AG_q',
          ResultParameters: { ResultParameter: { Key: 'Amount', Value: '300.00' } },
        },
      };
      expect(parseTransactionStatusResult(body).transaction).toEqual({ amount: 300 });
    });

    it.each<[string, unknown, string | RegExp]>([
      ['no Result', {}, 'Result'],
      ['no ConversationID', { Result: { ResultCode: 0, OriginatorConversationID: 'q' } }, 'Result.ConversationID'],
      [
        'a ResultCode with spaces inside',
        { Result: { ResultCode: 'not ok', OriginatorConversationID: 'q', ConversationID: 'AG_q' } },
        'Result.ResultCode',
      ],
      [
        'an object ResultCode',
        { Result: { ResultCode: {}, OriginatorConversationID: 'q', ConversationID: 'AG_q' } },
        'Result.ResultCode',
      ],
      [
        'a fractional Amount',
        {
          Result: {
            ResultCode: 0,
            OriginatorConversationID: 'q',
            ConversationID: 'AG_q',
            ResultParameters: { ResultParameter: [{ Key: 'Amount', Value: 10.5 }] },
          },
        },
        /Amount/,
      ],
      [
        'an object TransactionStatus',
        {
          Result: {
            ResultCode: 0,
            OriginatorConversationID: 'q',
            ConversationID: 'AG_q',
            ResultParameters: { ResultParameter: [{ Key: 'TransactionStatus', Value: {} }] },
          },
        },
        /TransactionStatus/,
      ],
      [
        'a NUL character',
        { Result: { ResultCode: 0, OriginatorConversationID: 'q\u0000', ConversationID: 'AG_q' } },
        '(body)',
      ],
      // JSON's "\ud800": jsonb refuses it (the fuzz found it as a 500 on a C2B TransID).
      [
        'a lone high surrogate',
        { Result: { ResultCode: 0, OriginatorConversationID: 'q\ud800', ConversationID: 'AG_q' } },
        '(body)',
      ],
      [
        'a lone low surrogate in a key',
        { Result: { ResultCode: 0, OriginatorConversationID: 'q', ConversationID: 'AG_q', '\udc00x': 1 } },
        '(body)',
      ],
    ])('rejects %s', (_label, body, field) => rejects(parseTransactionStatusResult, body, field));

    it('takes a well-formed pair (an emoji) where text is free', () => {
      expect(() =>
        parseTransactionStatusResult({
          Result: {
            ResultCode: 0,
            ResultDesc: 'ok \ud83d\ude00',
            OriginatorConversationID: 'q',
            ConversationID: 'AG_q',
          },
        }),
      ).not.toThrow();
    });
  });

  describe('answers to our requests', () => {
    it('reads the STK query answer, whose ResultCode is the string "0"', () => {
      expect(fixtureText('daraja-stk-query-response.json')).toContain('"ResultCode":"0"');
      expect(parseStkQueryResponse(fixture('daraja-stk-query-response.json'))).toEqual({
        responseCode: '0',
        responseDescription: 'The service request has been accepted successfully',
        merchantRequestId: '22205-34066-1',
        checkoutRequestId: 'ws_CO_13012021093521236557',
        resultCode: 0,
        resultDesc: 'The service request is processed successfully.',
      });
    });

    it('reads the STK push and B2C acceptances', () => {
      expect(parseStkPushResponse(fixture('daraja-stk-response.json'))).toEqual({
        merchantRequestId: '2654-4b64-97ff-b827b542881d3130',
        checkoutRequestId: 'ws_CO_1007202409152617172396192',
        responseCode: '0',
        responseDescription: 'Success. Request accepted for processing',
        customerMessage: 'Success. Request accepted for processing',
      });
      expect(parseB2cResponse(fixture('daraja-b2c-response.json'))).toEqual({
        conversationId: 'AG_20240706_20106e9209f64bebd05b',
        originatorConversationId: '600997_Test_32et3241ed8yu',
        responseCode: '0',
        responseDescription: 'Accept the service request successfully.',
      });
    });

    it('reads the OAuth answer with expires_in as a number (docs) or a string (live)', () => {
      expect(parseOAuthResponse(fixture('daraja-oauth-response.json'))).toEqual({
        accessToken: 'c9SQxWWhmdVRlyh0zh8gZDTkubVF',
        expiresInSeconds: 3599,
      });
      expect(parseOAuthResponse({ access_token: 't', expires_in: '3599' })).toEqual({
        accessToken: 't',
        expiresInSeconds: 3599,
      });
      rejects(parseOAuthResponse, { access_token: 't', expires_in: 'soon' }, 'expires_in');
      rejects(parseOAuthResponse, { expires_in: 3599 }, 'access_token');
    });

    it("reads Daraja's error envelope", () => {
      expect(parseDarajaErrorBody(fixture('daraja-stk-error-response.json'))).toEqual({
        requestId: '1c5b-4ba8-815c-ac45c57a3db01495926',
        errorCode: '400.002.02',
        errorMessage: 'Bad Request - Invalid BusinessShortCode',
      });
      expect(parseDarajaErrorBody(fixture('daraja-b2c-error-response.json'))).toMatchObject({
        errorCode: '500.002.1001',
      });
      expect(parseDarajaErrorBody(fixture('daraja-stk-response.json'))).toBeNull();
      expect(parseDarajaErrorBody('Bad gateway')).toBeNull();
    });
  });

  describe('what we compute', () => {
    it('builds the STK Password of the published request (sandbox shortcode and passkey)', () => {
      const request = fixture('daraja-stk-request.json') as {
        BusinessShortCode: number;
        Password: string;
        Timestamp: string;
      };
      expect(
        stkPassword(String(request.BusinessShortCode), MPESA_DEVELOPMENT_DEFAULTS.passkey, request.Timestamp),
      ).toBe(request.Password);
      // The published query request's Password is not a valid one (test/fixtures/providers/SOURCES.md says so).
      const query = fixture('daraja-stk-query-request.json') as {
        BusinessShortCode: string;
        Password: string;
        Timestamp: string;
      };
      expect(stkPassword(query.BusinessShortCode, MPESA_DEVELOPMENT_DEFAULTS.passkey, query.Timestamp)).not.toBe(
        query.Password,
      );
    });

    it('writes timestamps in Nairobi time (UTC+3), across midnight and year end', () => {
      expect(nairobiTimestamp(new Date('2024-07-06T19:48:52Z'))).toBe('20240706224852');
      expect(nairobiTimestamp(new Date('2024-12-31T21:30:00.999Z'))).toBe('20250101003000');
      expect(darajaTimestampToDate('20191219102115')).toEqual(new Date('2019-12-19T07:21:15Z'));
      expect(darajaTimestampToDate(20191219102115)).toEqual(new Date('2019-12-19T07:21:15Z'));
      expect(darajaTimestampToDate('20241332000000')).toBeUndefined();
      fc.assert(
        fc.property(
          fc.date({ min: new Date('1971-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }),
          (date) => {
            const seconds = new Date(Math.floor(date.getTime() / 1000) * 1000);
            expect(darajaTimestampToDate(nairobiTimestamp(date))).toEqual(seconds);
          },
        ),
      );
    });

    it('reads whole shillings however Daraja writes them, and only whole shillings', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 1_000_000_000 }), (n) => {
          expect(wholeShillings(n)).toBe(n);
          expect(wholeShillings(`${n}`)).toBe(n);
          expect(wholeShillings(`${n}.00`)).toBe(n);
          expect(() => wholeShillings(n + 0.5)).toThrow(DarajaPayloadError);
          expect(() => wholeShillings(`${n}.01`)).toThrow(DarajaPayloadError);
        }),
      );
    });

    it('encrypts the SecurityCredential with an X.509 certificate or a public key (RSA PKCS#1 v1.5)', () => {
      const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const certificate = selfSignedCertificate(keys, 'test');
      const publicKeyPem = keys.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      for (const pem of [certificate, publicKeyPem]) {
        const credential = securityCredential('Safaricom999!*!', pem);
        expect(credential).toMatch(/^[A-Za-z0-9+/]+=*$/);
        expect(Buffer.from(credential, 'base64')).toHaveLength(256);
        const plain = privateDecrypt(
          { key: keys.privateKey, padding: constants.RSA_PKCS1_PADDING },
          Buffer.from(credential, 'base64'),
        );
        expect(plain.toString()).toBe('Safaricom999!*!');
      }
      // Random padding: never the same ciphertext twice.
      expect(securityCredential('x', certificate)).not.toBe(securityCredential('x', certificate));
    });
  });

  describe('any input', () => {
    const throwsOnlyPayloadErrors = (parse: (body: unknown) => unknown, body: unknown) => {
      try {
        parse(body);
      } catch (e) {
        if (!(e instanceof DarajaPayloadError)) throw e;
      }
    };

    it('never throws anything but DarajaPayloadError on arbitrary JSON', () => {
      fc.assert(
        fc.property(fc.jsonValue(), (body) => {
          for (const parse of Object.values(PARSERS)) throwsOnlyPayloadErrors(parse, body);
        }),
        { numRuns: 500 },
      );
    });

    // Arbitrary JSON rarely looks like Daraja's bodies; replacing one field of a real sample with
    // arbitrary JSON reaches deep into each parser.
    const samples: [keyof typeof PARSERS, string][] = [
      ['parseStkCallback', 'daraja-stk-callback-success.json'],
      ['parseStkCallback', 'daraja-stk-callback-success-sandbox-capture.json'],
      ['parseC2bRequest', 'daraja-c2b-validation.json'],
      ['parseC2bRequest', 'daraja-c2b-confirmation.json'],
      ['parseB2cResult', 'daraja-b2c-result-success.json'],
      ['parseB2cResult', 'daraja-b2c-result-failure.json'],
      ['parseTransactionStatusResult', 'daraja-transaction-status-result.json'],
      ['parseStkQueryResponse', 'daraja-stk-query-response.json'],
      ['parseOAuthResponse', 'daraja-oauth-response.json'],
    ];
    it.each(samples)('never throws anything but DarajaPayloadError on %s of a mutated %s', (name, file) => {
      const paths = jsonPaths(fixture(file));
      fc.assert(
        fc.property(fc.constantFrom(...paths), fc.jsonValue(), (target, replacement) => {
          const body = structuredClone(fixture(file));
          throwsOnlyPayloadErrors(PARSERS[name], setAt(body, target, replacement));
        }),
        { numRuns: 300 },
      );
    });
  });
});

function jsonPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const here = [prefix];
  if (Array.isArray(value)) return here.concat(...value.map((v, i) => jsonPaths(v, [...prefix, i])));
  if (typeof value === 'object' && value !== null)
    return here.concat(...Object.entries(value).map(([k, v]) => jsonPaths(v, [...prefix, k])));
  return here;
}

function setAt(root: unknown, target: (string | number)[], replacement: unknown): unknown {
  if (target.length === 0) return replacement;
  let node = root as Record<string | number, unknown>;
  for (const key of target.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[target[target.length - 1]] = replacement;
  return root;
}
