import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { deliver, post } from './callbacks.js';
import type { DarajaContext } from './context.js';
import {
  b2cDateTime,
  conversationId as newConversationId,
  darajaError,
  darajaJson,
  Fixed2,
  invalidFieldError,
  originatorConversationId as newOriginatorConversationId,
  receiptNumber,
  SUCCESS_DESC,
} from './format.js';
import { authorized } from './oauth.js';
import type { B2cTransaction } from './state.js';
import { asObject, decrypts, isHttpUrl, MSISDN, scalar, SHORTCODE, wholeAmount } from './validation.js';

/**
 * B2C (paying a customer from the utility account): a request is accepted at once, decided after
 * `callbackDelayMs` against the credential, the scripted outcome and the float, and its Result
 * sent to ResultURL (or a timeout notice to QueueTimeOutURL).
 */

const B2C_COMMANDS = ['BusinessPayment', 'SalaryPayment', 'PromotionPayment'];

export function registerB2c(app: FastifyInstance, ctx: DarajaContext): void {
  // v3 (Daraja's current path) requires the caller's OriginatorConversationID; v1 (the path the
  // sandbox still serves, and older clients call) makes one up when it is absent.
  app.post('/mpesa/b2c/v3/paymentrequest', (request, reply) => b2cRequest(ctx, 'v3', request, reply));
  app.post('/mpesa/b2c/v1/paymentrequest', (request, reply) => b2cRequest(ctx, 'v1', request, reply));
}

async function b2cRequest(ctx: DarajaContext, version: 'v1' | 'v3', request: FastifyRequest, reply: FastifyReply) {
  const { settings, state } = ctx;
  if (!authorized(ctx, request, reply)) return reply;
  const body = asObject(request.body);
  const amount = wholeAmount(body.Amount);
  const givenOriginator =
    typeof body.OriginatorConversationID === 'string' && body.OriginatorConversationID.trim() !== ''
      ? body.OriginatorConversationID
      : undefined;
  const invalidField =
    (version === 'v3' && !givenOriginator ? 'OriginatorConversationID' : null) ??
    (typeof body.InitiatorName !== 'string' || body.InitiatorName === '' ? 'InitiatorName' : null) ??
    (typeof body.SecurityCredential !== 'string' || body.SecurityCredential === '' ? 'SecurityCredential' : null) ??
    (!B2C_COMMANDS.includes(String(body.CommandID)) ? 'CommandID' : null) ??
    (amount === null || amount < 10 || amount > 250_000 ? 'Amount' : null) ??
    (!SHORTCODE.test(scalar(body.PartyA)) ? 'PartyA' : null) ??
    (!MSISDN.test(scalar(body.PartyB)) ? 'PartyB' : null) ??
    (typeof body.Remarks !== 'string' || body.Remarks.length < 2 || body.Remarks.length > 100 ? 'Remarks' : null) ??
    (!isHttpUrl(body.QueueTimeOutURL) ? 'QueueTimeOutURL' : null) ??
    (!isHttpUrl(body.ResultURL) ? 'ResultURL' : null);
  if (invalidField) return reply.status(400).send(invalidFieldError(invalidField));
  const originatorConversationId = givenOriginator ?? newOriginatorConversationId();
  if (state.b2cIds.has(originatorConversationId)) {
    return reply.status(500).send(darajaError('500.002.1001', 'Duplicate OriginatorConversationID.'));
  }
  state.b2cIds.add(originatorConversationId);
  const conversationId = newConversationId();
  const phoneNumber = String(body.PartyB);
  // The credential is checked later, as Daraja does: the request is accepted, the result fails.
  const credentialOk =
    String(body.InitiatorName) === settings.initiatorName &&
    decrypts(String(body.SecurityCredential), ctx.keyPair.privateKey, settings.initiatorPassword);
  const transaction: B2cTransaction = {
    originatorConversationId,
    conversationId,
    partyA: String(body.PartyA),
    phoneNumber,
    amount: amount as number,
    requestedAt: new Date(),
    state: 'queued',
    decision: {
      credentialOk,
      outcome: ctx.outcomeOf(phoneNumber),
      resultUrl: String(body.ResultURL),
      queueTimeoutUrl: String(body.QueueTimeOutURL),
    },
  };
  state.b2cs.set(originatorConversationId, transaction);
  ctx.later(settings.callbackDelayMs, () => decideB2c(ctx, transaction));
  return reply.send({
    ConversationID: conversationId,
    OriginatorConversationID: originatorConversationId,
    ResponseCode: '0',
    ResponseDescription: 'Accept the service request successfully.',
  });
}

function decideB2c(ctx: DarajaContext, transaction: B2cTransaction): void {
  if (transaction.state !== 'queued') return;
  const { state } = ctx;
  const b2c = { ...transaction, ...transaction.decision };
  const { outcome } = b2c;
  const record = (finalState: B2cTransaction['state'], receipt?: string) => {
    Object.assign(transaction, { state: finalState, receipt, finishedAt: new Date() });
    ctx.persist();
  };
  if (outcome === 'no_callback') {
    // Timed out inside M-PESA, and both the result and the timeout notice lost.
    record('expired');
    return;
  }
  const transactionId = receiptNumber();
  const referenceData = {
    ReferenceItem: {
      Key: 'QueueTimeoutURL',
      Value: 'https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit',
    },
  };
  const base = {
    OriginatorConversationID: b2c.originatorConversationId,
    ConversationID: b2c.conversationId,
    TransactionID: transactionId,
  };
  if (outcome === 'queue_timeout') {
    // Safaricom publishes no sample of this body; it is the Result shape, sent to QueueTimeOutURL.
    const text = darajaJson({
      Result: {
        ResultType: 1,
        ResultCode: 1,
        ResultDesc: 'The service request has timed out.',
        ...base,
        ReferenceData: referenceData,
      },
    });
    record('expired');
    void post(ctx, 'b2c_timeout', b2c.queueTimeoutUrl, text);
    return;
  }
  let failure: { code: number; desc: string } | null = null;
  if (!b2c.credentialOk || outcome === 'wrong_pin')
    failure = { code: 2001, desc: 'The initiator information is invalid.' };
  else if (outcome === 'insufficient_funds' || state.utilityFundsCents < b2c.amount * 100)
    failure = { code: 1, desc: 'The balance is insufficient for the transaction.' };
  let result: Record<string, unknown>;
  if (failure) {
    record('failed', transactionId);
    result = {
      ResultType: 0,
      ResultCode: failure.code,
      ResultDesc: failure.desc,
      ...base,
      ReferenceData: referenceData,
    };
  } else {
    // The float first: the state written with the payment is the state after it.
    state.utilityFundsCents -= b2c.amount * 100;
    record('completed', transactionId);
    result = {
      ResultType: 0,
      ResultCode: 0,
      ResultDesc: SUCCESS_DESC,
      ...base,
      ResultParameters: {
        ResultParameter: [
          { Key: 'TransactionAmount', Value: b2c.amount },
          { Key: 'TransactionReceipt', Value: transactionId },
          { Key: 'ReceiverPartyPublicName', Value: `${b2c.phoneNumber} - JOHN DOE` },
          { Key: 'TransactionCompletedDateTime', Value: b2cDateTime() },
          { Key: 'B2CUtilityAccountAvailableFunds', Value: new Fixed2(state.utilityFundsCents / 100) },
          { Key: 'B2CWorkingAccountAvailableFunds', Value: new Fixed2(0) },
          { Key: 'B2CRecipientIsRegisteredCustomer', Value: 'Y' },
          { Key: 'B2CChargesPaidAccountAvailableFunds', Value: new Fixed2(0) },
        ],
      },
      ReferenceData: referenceData,
    };
  }
  if (outcome === 'lost_callback') return;
  deliver(ctx, 'b2c_result', b2c.resultUrl, darajaJson({ Result: result }), outcome);
}

/** After a restart: payments still queued are decided after the usual delay. */
export function resumeB2cPayments(ctx: DarajaContext): void {
  for (const transaction of ctx.state.b2cs.values()) {
    if (transaction.state === 'queued') ctx.later(ctx.settings.callbackDelayMs, () => decideB2c(ctx, transaction));
  }
}
