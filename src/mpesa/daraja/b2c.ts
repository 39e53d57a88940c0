// B2C: money sent from the B2C shortcode to a phone. The outcome comes later, as a Result callback.
import { parseB2cResponse, type B2cResponse } from './b2c.parsers.js';
import { securityCredential } from './credentials.js';
import type { DarajaHttp } from './http.js';
import { boundedText, invalid, msisdn, url, wholeAmount } from './request-checks.js';

export type B2cCommandId = 'BusinessPayment' | 'SalaryPayment' | 'PromotionPayment';

export interface B2cRequest {
  /** Our idempotency key: Daraja refuses a second request with the same one. */
  originatorConversationId: string;
  /** Whole shillings (Daraja accepts 10 to 250,000). */
  amount: number;
  /** The recipient, `2547…` / `2541…`. */
  phoneNumber: string;
  remarks: string;
  resultUrl: string;
  queueTimeoutUrl: string;
  occasion?: string;
  commandId?: B2cCommandId;
}

/** DarajaClient.b2c: sent once, never retried here. */
export async function sendB2c(http: DarajaHttp, request: B2cRequest): Promise<B2cResponse> {
  const op = 'b2c';
  const originatorConversationId = boundedText(op, request.originatorConversationId, 'originatorConversationId', 100);
  const commandId = request.commandId ?? 'BusinessPayment';
  if (!['BusinessPayment', 'SalaryPayment', 'PromotionPayment'].includes(commandId))
    throw invalid(op, 'commandId is not a B2C command');
  const body = {
    OriginatorConversationID: originatorConversationId,
    InitiatorName: http.options.initiatorName,
    SecurityCredential: securityCredential(http.options.initiatorPassword, await http.certificateKey()),
    CommandID: commandId,
    Amount: wholeAmount(op, request.amount),
    PartyA: http.options.b2cShortcode,
    PartyB: msisdn(op, request.phoneNumber, 'phoneNumber'),
    Remarks: boundedText(op, request.remarks, 'remarks', 100),
    QueueTimeOutURL: url(op, request.queueTimeoutUrl, 'queueTimeoutUrl'),
    ResultURL: url(op, request.resultUrl, 'resultUrl'),
    Occassion: request.occasion === undefined ? '' : boundedText(op, request.occasion, 'occasion', 100, true),
  };
  // Not retried here: a request that may have reached Daraja could pay twice unless Daraja refuses
  // the repeated OriginatorConversationID, and Deni does not rely on that. WithdrawalService decides.
  const answer = await http.call('b2c', '/mpesa/b2c/v3/paymentrequest', body, false);
  return http.accepted('b2c', http.parseOk('b2c', answer, parseB2cResponse));
}
