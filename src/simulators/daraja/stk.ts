import type { FastifyInstance } from 'fastify';
import { nairobiTimestamp, stkPassword } from '../../mpesa/daraja.parsers.js';
import { deliver } from './callbacks.js';
import type { DarajaContext } from './context.js';
import {
  checkoutRequestId,
  darajaError,
  darajaJson,
  darajaRequestId,
  Fixed2,
  invalidFieldError,
  receiptNumber,
  SUCCESS_DESC,
} from './format.js';
import { authorized } from './oauth.js';
import { STK_RESOLUTIONS, type PendingStkPush, type StkResolution } from './outcomes.js';
import type { StkPush } from './state.js';
import { asObject, isHttpUrl, MSISDN, safeEqual, scalar, SHORTCODE, STK_TYPES, wholeAmount } from './validation.js';

/**
 * STK push (Lipa na M-PESA Online) and its query: a push is accepted at once, decided after the
 * "customer" has had `callbackDelayMs` (or by hand, when held), and its callback sent.
 */

const STK_RESULTS: Record<StkResolution, { code: number; desc: string }> = {
  success: { code: 0, desc: SUCCESS_DESC },
  lost_callback: { code: 0, desc: SUCCESS_DESC },
  duplicate_callback: { code: 0, desc: SUCCESS_DESC },
  cancelled: { code: 1032, desc: 'Request cancelled by user' },
  insufficient_funds: { code: 1, desc: 'The balance is insufficient for the transaction.' },
  wrong_pin: { code: 2001, desc: 'The initiator information is invalid.' },
  unreachable: { code: 1037, desc: 'DS timeout user cannot be reached' },
  no_callback: { code: 1037, desc: 'No response from user.' },
  queue_timeout: { code: 1037, desc: 'No response from user.' },
};

export function registerStk(app: FastifyInstance, ctx: DarajaContext): void {
  const { settings, state } = ctx;

  app.post('/mpesa/stkpush/v1/processrequest', async (request, reply) => {
    if (!authorized(ctx, request, reply)) return reply;
    const body = asObject(request.body);
    const amount = wholeAmount(body.Amount);
    const invalidField =
      checkPassword(ctx, body) ??
      (!STK_TYPES.includes(String(body.TransactionType)) ? 'TransactionType' : null) ??
      (amount === null || amount < 1 ? 'Amount' : null) ??
      (!MSISDN.test(scalar(body.PartyA)) ? 'PartyA' : null) ??
      (!SHORTCODE.test(scalar(body.PartyB)) ? 'PartyB' : null) ??
      (!MSISDN.test(scalar(body.PhoneNumber)) ? 'PhoneNumber' : null) ??
      (!isHttpUrl(body.CallBackURL) ? 'CallBackURL' : null) ??
      (typeof body.AccountReference !== 'string' ||
      body.AccountReference.length < 1 ||
      body.AccountReference.length > 12
        ? 'AccountReference'
        : null) ??
      (typeof body.TransactionDesc !== 'string' || body.TransactionDesc.length > 13 ? 'TransactionDesc' : null);
    if (invalidField) return reply.status(400).send(invalidFieldError(invalidField));

    const phoneNumber = String(body.PhoneNumber);
    const push: StkPush = {
      merchantRequestId: darajaRequestId(),
      checkoutRequestId: checkoutRequestId(),
      phoneNumber,
      amount: amount as number,
      callbackUrl: String(body.CallBackURL),
      outcome: ctx.outcomeOf(phoneNumber),
      requestedAt: new Date(),
    };
    state.pushes.set(push.checkoutRequestId, push);
    const outcome = push.outcome;
    if (outcome !== 'hold') ctx.later(settings.callbackDelayMs, () => decideStk(ctx, push, outcome));
    return reply.send({
      MerchantRequestID: push.merchantRequestId,
      CheckoutRequestID: push.checkoutRequestId,
      ResponseCode: '0',
      ResponseDescription: 'Success. Request accepted for processing',
      CustomerMessage: 'Success. Request accepted for processing',
    });
  });

  app.post('/mpesa/stkpushquery/v1/query', async (request, reply) => {
    if (!authorized(ctx, request, reply)) return reply;
    const body = asObject(request.body);
    const invalidField = checkPassword(ctx, body);
    if (invalidField) return reply.status(400).send(invalidFieldError(invalidField));
    const push = typeof body.CheckoutRequestID === 'string' ? state.pushes.get(body.CheckoutRequestID) : undefined;
    if (!push) return reply.status(400).send(invalidFieldError('CheckoutRequestID'));
    if (!push.result) return reply.status(500).send(darajaError('500.001.1001', 'The transaction is being processed'));
    return reply.send({
      ResponseCode: '0',
      ResponseDescription: 'The service request has been accepted successsfully',
      MerchantRequestID: push.merchantRequestId,
      CheckoutRequestID: push.checkoutRequestId,
      ResultCode: String(push.result.code),
      ResultDesc: push.result.desc,
    });
  });
}

/** The first field of BusinessShortCode, Timestamp and Password that is wrong, or null. */
function checkPassword(ctx: DarajaContext, body: Record<string, unknown>): string | null {
  const shortcode = scalar(body.BusinessShortCode);
  if (!SHORTCODE.test(shortcode)) return 'BusinessShortCode';
  const timestamp = scalar(body.Timestamp);
  if (!/^\d{14}$/.test(timestamp)) return 'Timestamp';
  if (
    typeof body.Password !== 'string' ||
    !safeEqual(body.Password, stkPassword(shortcode, ctx.settings.passkey, timestamp))
  )
    return 'Password';
  return null;
}

/** Decides a push once (a push resolved early is not decided again when its delay ends). */
function decideStk(ctx: DarajaContext, push: StkPush, outcome: StkResolution): void {
  if (push.result) return;
  const result = STK_RESULTS[outcome];
  push.outcome = outcome;
  push.result = result;
  ctx.persist();
  if (outcome === 'no_callback' || outcome === 'lost_callback' || outcome === 'queue_timeout') return;
  const callback: Record<string, unknown> = {
    MerchantRequestID: push.merchantRequestId,
    CheckoutRequestID: push.checkoutRequestId,
    ResultCode: result.code,
    ResultDesc: result.desc,
  };
  if (result.code === 0) {
    callback.CallbackMetadata = {
      Item: [
        { Name: 'Amount', Value: new Fixed2(push.amount) },
        { Name: 'MpesaReceiptNumber', Value: receiptNumber() },
        { Name: 'TransactionDate', Value: Number(nairobiTimestamp()) },
        { Name: 'PhoneNumber', Value: Number(push.phoneNumber) },
      ],
    };
  }
  deliver(ctx, 'stk', push.callbackUrl, darajaJson({ Body: { stkCallback: callback } }), outcome);
}

/** STK pushes not decided yet, oldest first; only this number's (254…) when given. */
export function pendingStkPushes(ctx: DarajaContext, phoneNumber?: string): PendingStkPush[] {
  return [...ctx.state.pushes.values()]
    .filter((p) => !p.result && (phoneNumber === undefined || p.phoneNumber === phoneNumber))
    .map((p) => ({
      checkoutRequestId: p.checkoutRequestId,
      merchantRequestId: p.merchantRequestId,
      phoneNumber: p.phoneNumber,
      amount: p.amount,
      requestedAt: p.requestedAt,
      held: p.outcome === 'hold',
    }));
}

/** Decides a pending push now; throws when it is unknown or already decided. */
export function resolveStkPush(ctx: DarajaContext, checkoutRequestId: string, outcome: StkResolution): void {
  if (!STK_RESOLUTIONS.includes(outcome)) throw new Error(`outcome must be one of ${STK_RESOLUTIONS.join(', ')}`);
  const push = ctx.state.pushes.get(checkoutRequestId);
  if (!push) throw new Error(`no STK push ${checkoutRequestId}`);
  if (push.result) throw new Error(`STK push ${checkoutRequestId} is already decided (${push.outcome})`);
  decideStk(ctx, push, outcome);
}

/** After a restart: pushes not decided yet (but held ones) are decided after the usual delay. */
export function resumeStkPushes(ctx: DarajaContext): void {
  for (const push of ctx.state.pushes.values()) {
    const outcome = push.outcome;
    if (!push.result && outcome !== 'hold')
      ctx.later(ctx.settings.callbackDelayMs, () => decideStk(ctx, push, outcome));
  }
}
