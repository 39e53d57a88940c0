import type { FastifyInstance } from 'fastify';
import { nairobiTimestamp } from '../../mpesa/daraja.parsers.js';
import { post } from './callbacks.js';
import type { DarajaContext } from './context.js';
import {
  conversationId,
  darajaJson,
  invalidFieldError,
  originatorConversationId,
  receiptNumber,
  SUCCESS_DESC,
} from './format.js';
import { authorized } from './oauth.js';
import { asObject, decrypts, isHttpUrl, MSISDN, scalar, SHORTCODE } from './validation.js';

/**
 * Transaction Status: what became of a B2C (by OriginatorConversationID or receipt) or of a
 * paybill payment (by TransID), answered to ResultURL after `callbackDelayMs`.
 */

interface StatusQuery {
  originatorConversationId: string;
  conversationId: string;
  credentialOk: boolean;
  about?: string;
  transactionId?: string;
  occasion: string;
  resultUrl: string;
}

export function registerTransactionStatus(app: FastifyInstance, ctx: DarajaContext): void {
  const { settings } = ctx;
  app.post('/mpesa/transactionstatus/v1/query', async (request, reply) => {
    if (!authorized(ctx, request, reply)) return reply;
    const body = asObject(request.body);
    // Safaricom's page calls it OriginalConversationID; clients send OriginatorConversationID.
    const originator = [body.OriginatorConversationID, body.OriginalConversationID].find(
      (v): v is string => typeof v === 'string' && v.trim() !== '',
    );
    const transactionId =
      typeof body.TransactionID === 'string' && body.TransactionID.trim() !== ''
        ? body.TransactionID.trim()
        : undefined;
    const invalidField =
      (typeof body.Initiator !== 'string' || body.Initiator === '' ? 'Initiator' : null) ??
      (typeof body.SecurityCredential !== 'string' || body.SecurityCredential === '' ? 'SecurityCredential' : null) ??
      (body.CommandID !== 'TransactionStatusQuery' ? 'CommandID' : null) ??
      (!originator && !transactionId ? 'TransactionID' : null) ??
      (!SHORTCODE.test(scalar(body.PartyA)) && !MSISDN.test(scalar(body.PartyA)) ? 'PartyA' : null) ??
      (!['1', '2', '4'].includes(scalar(body.IdentifierType)) ? 'IdentifierType' : null) ??
      (!isHttpUrl(body.ResultURL) ? 'ResultURL' : null) ??
      (!isHttpUrl(body.QueueTimeOutURL) ? 'QueueTimeOutURL' : null) ??
      (typeof body.Remarks !== 'string' || body.Remarks.length < 1 || body.Remarks.length > 100 ? 'Remarks' : null) ??
      (body.Occasion !== undefined && (typeof body.Occasion !== 'string' || body.Occasion.length > 100)
        ? 'Occasion'
        : null);
    if (invalidField) return reply.status(400).send(invalidFieldError(invalidField));
    const query: StatusQuery = {
      originatorConversationId: originatorConversationId(),
      conversationId: conversationId(),
      credentialOk:
        String(body.Initiator) === settings.initiatorName &&
        decrypts(String(body.SecurityCredential), ctx.keyPair.privateKey, settings.initiatorPassword),
      about: originator,
      transactionId,
      occasion: typeof body.Occasion === 'string' ? body.Occasion : '',
      resultUrl: String(body.ResultURL),
    };
    ctx.later(settings.callbackDelayMs, () => answerStatus(ctx, query));
    return reply.send({
      OriginatorConversationID: query.originatorConversationId,
      ConversationID: query.conversationId,
      ResponseCode: '0',
      ResponseDescription: 'Accept the service request successfully.',
    });
  });
}

/** The Result of a status query, in the shape of Safaricom's published sample. */
function answerStatus(ctx: DarajaContext, query: StatusQuery): Promise<unknown> {
  const { b2cs, c2bs } = ctx.state;
  const found = query.about
    ? b2cs.get(query.about)
    : ([...b2cs.values()].find((t) => t.receipt === query.transactionId) ??
      (query.transactionId ? c2bs.get(query.transactionId) : undefined));
  const base = {
    OriginatorConversationID: query.originatorConversationId,
    ConversationID: query.conversationId,
    TransactionID: `${receiptNumber().slice(0, 3)}0000000`,
    ReferenceData: {
      ReferenceItem: query.occasion ? { Key: 'Occasion', Value: query.occasion } : { Key: 'Occasion' },
    },
  };
  let result: Record<string, unknown>;
  if (!query.credentialOk) {
    result = { ResultType: 0, ResultCode: 2001, ResultDesc: 'The initiator information is invalid.', ...base };
  } else if (!found || found.state === 'queued') {
    // Not Safaricom's (its page lists only 0 and SFC_IC0003): the simulator's stand-in for "no
    // such transaction", a string code as Daraja sometimes sends.
    result = {
      ResultType: 0,
      ResultCode: 'R000002',
      ResultDesc: 'The OriginatorConversationID cannot be found.',
      ...base,
    };
  } else {
    const status = found.state === 'completed' ? 'Completed' : found.state === 'failed' ? 'Failed' : 'Expired';
    const parameters: { Key: string; Value?: unknown }[] = [
      { Key: 'DebitPartyName', Value: `${found.partyA} - Deni` },
      { Key: 'CreditPartyName', Value: `${found.phoneNumber} - JOHN DOE` },
      { Key: 'OriginatorConversationID', Value: found.originatorConversationId },
      { Key: 'InitiatedTime', Value: nairobiTimestamp(found.requestedAt) },
      { Key: 'DebitAccountType', Value: 'Utility Account' },
      { Key: 'DebitPartyCharges', Value: '' },
      { Key: 'TransactionReason' },
      { Key: 'ReasonType', Value: 'Business Payment to Customer via API' },
      { Key: 'TransactionStatus', Value: status },
      { Key: 'FinalisedTime', Value: nairobiTimestamp(found.finishedAt ?? new Date()) },
      { Key: 'Amount', Value: String(found.amount) },
      { Key: 'ConversationID', Value: found.conversationId },
      ...(found.receipt ? [{ Key: 'ReceiptNo', Value: found.receipt }] : []),
    ];
    result = {
      ResultType: 0,
      ResultCode: 0,
      ResultDesc: SUCCESS_DESC,
      ...base,
      ResultParameters: { ResultParameter: parameters },
    };
  }
  return post(ctx, 'transaction_status', query.resultUrl, darajaJson({ Result: result }));
}
