// Transaction Status (`TransactionStatusQuery`): asks M-PESA how a transaction ended. The answer
// here is only an acknowledgement; the status comes later, as a Result callback.
import { securityCredential } from './credentials.js';
import type { DarajaHttp } from './http.js';
import { boundedText, invalid, url } from './request-checks.js';
import { parseTransactionStatusResponse, type TransactionStatusResponse } from './transaction-status.parsers.js';

/** Asks M-PESA how a transaction ended; the answer comes later, as a Result posted to `resultUrl`. */
export interface TransactionStatusRequest {
  /** The transaction's OriginatorConversationID (for a B2C, the one Deni sent). */
  originatorConversationId?: string;
  /** The transaction's M-PESA receipt (TransactionID), when known. One of the two is required. */
  transactionId?: string;
  /** The shortcode the transaction went through (default MPESA_B2C_SHORTCODE; a paybill payment: MPESA_SHORTCODE). */
  partyA?: string;
  resultUrl: string;
  queueTimeoutUrl: string;
  remarks: string;
  occasion?: string;
}

/** DarajaClient.transactionStatus. A query changes nothing, so it is retried on network failures. */
export async function sendTransactionStatusQuery(
  http: DarajaHttp,
  request: TransactionStatusRequest,
): Promise<TransactionStatusResponse> {
  const op = 'transaction_status';
  const originatorConversationId =
    request.originatorConversationId === undefined
      ? undefined
      : boundedText(op, request.originatorConversationId, 'originatorConversationId', 100);
  const transactionId =
    request.transactionId === undefined ? undefined : boundedText(op, request.transactionId, 'transactionId', 32);
  if (!originatorConversationId && !transactionId)
    throw invalid(op, 'originatorConversationId or transactionId is required');
  const body = {
    Initiator: http.options.initiatorName,
    SecurityCredential: securityCredential(http.options.initiatorPassword, await http.certificateKey()),
    CommandID: 'TransactionStatusQuery',
    ...(transactionId ? { TransactionID: transactionId } : {}),
    // Safaricom's page names this field OriginalConversationID in its table and sample, while
    // the clients in use (and the request this answers) say OriginatorConversationID: both are
    // sent, with the same value.
    ...(originatorConversationId
      ? { OriginatorConversationID: originatorConversationId, OriginalConversationID: originatorConversationId }
      : {}),
    PartyA: request.partyA ?? http.options.b2cShortcode,
    IdentifierType: '4',
    ResultURL: url(op, request.resultUrl, 'resultUrl'),
    QueueTimeOutURL: url(op, request.queueTimeoutUrl, 'queueTimeoutUrl'),
    Remarks: boundedText(op, request.remarks, 'remarks', 100),
    Occasion: request.occasion === undefined ? '' : boundedText(op, request.occasion, 'occasion', 100, true),
  };
  const answer = await http.call(op, '/mpesa/transactionstatus/v1/query', body, true);
  return http.accepted(op, http.parseOk(op, answer, parseTransactionStatusResponse));
}
