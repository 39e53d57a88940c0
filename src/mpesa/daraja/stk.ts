// STK push (Lipa na M-PESA Online) and STK Push Query: the requests, checked and sent.
import { DARAJA_STILL_PROCESSING } from '../daraja.errors.js';
import { stkPassword } from './credentials.js';
import type { DarajaHttp } from './http.js';
import { parseDarajaErrorBody } from './http.parsers.js';
import { boundedText, msisdn, url, wholeAmount } from './request-checks.js';
import {
  parseStkPushResponse,
  parseStkQueryResponse,
  type StkPushResponse,
  type StkQueryResponse,
} from './stk.parsers.js';
import { nairobiTimestamp } from './timestamps.js';

export interface StkPushRequest {
  /** `2547…` or `2541…` (the payer, and the phone that gets the prompt). */
  phoneNumber: string;
  /** Whole shillings, at least 1. */
  amount: number;
  /** At most 12 characters; shown to the customer. */
  accountReference: string;
  /** At most 13 characters. */
  description: string;
  callbackUrl: string;
}

export type StkQueryResult =
  /** The customer has not answered the prompt yet (Daraja answers 500.001.1001). */
  { state: 'pending'; checkoutRequestId: string; description: string } | ({ state: 'done' } & StkQueryResponse);

/** What every STK request opens with: the shortcode and the password made from it, the passkey and the time (Nairobi). */
function signed(http: DarajaHttp) {
  const timestamp = nairobiTimestamp(http.now());
  const { shortcode, passkey } = http.options;
  return { BusinessShortCode: shortcode, Password: stkPassword(shortcode, passkey, timestamp), Timestamp: timestamp };
}

/** DarajaClient.stkPush. Never retried: a second send is a second prompt. */
export async function sendStkPush(http: DarajaHttp, request: StkPushRequest): Promise<StkPushResponse> {
  const op = 'stk_push';
  const amount = wholeAmount(op, request.amount);
  const phone = msisdn(op, request.phoneNumber, 'phoneNumber');
  const accountReference = boundedText(op, request.accountReference, 'accountReference', 12);
  const description = boundedText(op, request.description, 'description', 13);
  const callbackUrl = url(op, request.callbackUrl, 'callbackUrl');
  const body = {
    ...signed(http),
    TransactionType: http.options.transactionType,
    Amount: amount,
    PartyA: phone,
    PartyB: http.options.shortcode,
    PhoneNumber: phone,
    CallBackURL: callbackUrl,
    AccountReference: accountReference,
    TransactionDesc: description,
  };
  const answer = await http.call('stk_push', '/mpesa/stkpush/v1/processrequest', body, false);
  return http.accepted('stk_push', http.parseOk('stk_push', answer, parseStkPushResponse));
}

/** DarajaClient.stkQuery. Idempotent, so retried on network failures. */
export async function sendStkQuery(http: DarajaHttp, checkoutRequestId: string): Promise<StkQueryResult> {
  const id = boundedText('stk_query', checkoutRequestId, 'checkoutRequestId', 100);
  const body = {
    ...signed(http),
    CheckoutRequestID: id,
  };
  const answer = await http.call('stk_query', '/mpesa/stkpushquery/v1/query', body, true);
  const error = answer.status >= 400 ? parseDarajaErrorBody(answer.body) : null;
  if (error?.errorCode === DARAJA_STILL_PROCESSING) {
    return {
      state: 'pending',
      checkoutRequestId: id,
      description: error.errorMessage ?? 'The transaction is being processed',
    };
  }
  return { state: 'done', ...http.parseOk('stk_query', answer, parseStkQueryResponse) };
}
