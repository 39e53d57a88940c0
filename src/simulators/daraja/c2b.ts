import type { FastifyInstance } from 'fastify';
import { nairobiTimestamp } from '../../mpesa/daraja.parsers.js';
import { post } from './callbacks.js';
import type { DarajaContext } from './context.js';
import { conversationId, darajaJson, darajaRequestId, invalidFieldError, receiptNumber } from './format.js';
import { authorized } from './oauth.js';
import type { SimulatorCallback } from './state.js';
import {
  asObject,
  isHttpUrl,
  isOptionalText,
  MSISDN,
  scalar,
  SHORTCODE,
  STK_TYPES,
  wholeAmount,
} from './validation.js';

/**
 * C2B (paybill and till payments): URLs registered per ShortCode, then for each payment a
 * validation request and (if accepted) a confirmation to them.
 */

export interface C2bPayment {
  billRefNumber: string;
  /** Whole shillings. */
  amount: number;
  /** Unmasked payer (default 254708374149); Daraja masks it in what it sends. */
  msisdn?: string;
  /** Whose registered URLs to call (default: the last registered). */
  shortCode?: string;
  firstName?: string;
  /** Paid to a paybill (TransactionType `Pay Bill`, the default) or a till (`Buy Goods`). */
  commandId?: 'CustomerPayBillOnline' | 'CustomerBuyGoodsOnline';
}

export interface C2bSimulation {
  transId: string;
  /** Validation accepted (or skipped), and the confirmation was sent. */
  completed: boolean;
  validation?: SimulatorCallback;
  confirmation?: SimulatorCallback;
}

export function registerC2b(app: FastifyInstance, ctx: DarajaContext): void {
  const { state } = ctx;

  app.post('/mpesa/c2b/v1/registerurl', async (request, reply) => {
    if (!authorized(ctx, request, reply)) return reply;
    const body = asObject(request.body);
    const invalidField =
      (!SHORTCODE.test(scalar(body.ShortCode)) ? 'ShortCode' : null) ??
      (body.ResponseType !== 'Completed' && body.ResponseType !== 'Cancelled' ? 'ResponseType' : null) ??
      (!isHttpUrl(body.ConfirmationURL) ? 'ConfirmationURL' : null) ??
      (!isHttpUrl(body.ValidationURL) ? 'ValidationURL' : null);
    if (invalidField) return reply.status(400).send(invalidFieldError(invalidField));
    const shortCode = String(body.ShortCode);
    state.registrations.set(shortCode, {
      responseType: String(body.ResponseType),
      confirmationUrl: String(body.ConfirmationURL),
      validationUrl: String(body.ValidationURL),
    });
    state.lastRegistered = shortCode;
    // Daraja's own spelling of the field.
    return reply.send({
      OriginatorCoversationID: darajaRequestId(),
      ResponseCode: '0',
      ResponseDescription: 'Success',
    });
  });

  // Daraja's sandbox-only "Simulate C2B Request" (what third-party clients call, e.g. mpesa-node's
  // c2bSimulate): the customer has paid, so it is accepted at once and the notifications follow,
  // to the URLs registered for the ShortCode as the control route's `c2b` sends them. A ShortCode
  // with no URLs registered is paid without notifications, as M-PESA completes such payments.
  app.post('/mpesa/c2b/v1/simulate', async (request, reply) => {
    if (!authorized(ctx, request, reply)) return reply;
    const body = asObject(request.body);
    const amount = wholeAmount(body.Amount);
    const commandId = String(body.CommandID);
    const billRef = body.BillRefNumber;
    const invalidField =
      (!SHORTCODE.test(scalar(body.ShortCode)) ? 'ShortCode' : null) ??
      (!STK_TYPES.includes(commandId) ? 'CommandID' : null) ??
      (amount === null || amount < 1 ? 'Amount' : null) ??
      (!MSISDN.test(scalar(body.Msisdn)) ? 'Msisdn' : null) ??
      // An account number for a paybill; a till takes none (null).
      ((commandId === 'CustomerPayBillOnline'
        ? typeof billRef !== 'string' || billRef === ''
        : !isOptionalText(billRef)) ||
      (typeof billRef === 'string' && billRef.length > 20)
        ? 'BillRefNumber'
        : null);
    if (invalidField) return reply.status(400).send(invalidFieldError(invalidField));
    const shortCode = scalar(body.ShortCode);
    if (state.registrations.has(shortCode)) {
      const payment: C2bPayment = {
        billRefNumber: typeof billRef === 'string' ? billRef : '',
        amount: amount as number,
        msisdn: scalar(body.Msisdn),
        shortCode,
        commandId: commandId as C2bPayment['commandId'],
      };
      ctx.later(0, () => c2b(ctx, payment));
    }
    return reply.send({
      OriginatorCoversationID: darajaRequestId(),
      ResponseCode: '0',
      ResponseDescription: 'Accept the service request successfully.',
    });
  });
}

/** A C2B payment: validation request, then (if accepted) confirmation, to the registered URLs. */
export async function c2b(ctx: DarajaContext, payment: C2bPayment): Promise<C2bSimulation> {
  const { state } = ctx;
  const shortCode = payment.shortCode ?? state.lastRegistered;
  const registration = shortCode ? state.registrations.get(shortCode) : undefined;
  if (!shortCode || !registration) throw new Error('no C2B URLs registered (call registerC2bUrls first)');
  if (!Number.isSafeInteger(payment.amount) || payment.amount < 1)
    throw new Error('amount must be whole shillings, at least 1');
  const msisdn = payment.msisdn ?? '254708374149';
  const transId = receiptNumber();
  const request = (balance: string) =>
    darajaJson({
      TransactionType: payment.commandId === 'CustomerBuyGoodsOnline' ? 'Buy Goods' : 'Pay Bill',
      TransID: transId,
      TransTime: nairobiTimestamp(),
      TransAmount: `${payment.amount}.00`,
      BusinessShortCode: shortCode,
      BillRefNumber: payment.billRefNumber,
      InvoiceNumber: '',
      OrgAccountBalance: balance,
      ThirdPartyTransID: '',
      MSISDN: `${msisdn.slice(0, 5)}****${msisdn.slice(-3)}`,
      FirstName: payment.firstName ?? 'John',
      MiddleName: '',
      LastName: '',
    });
  const validation = await post(ctx, 'c2b_validation', registration.validationUrl, request(''));
  const answered =
    validation.status !== undefined && validation.status < 300 && typeof validation.response === 'object';
  const code = answered ? (validation.response as Record<string, unknown>).ResultCode : undefined;
  const accepted = answered ? code === '0' || code === 0 : registration.responseType === 'Completed';
  if (!accepted) return { transId, completed: false, validation };
  state.utilityFundsCents += payment.amount * 100;
  // Known to Transaction Status by its TransID, as a completed payment to the paybill.
  state.c2bs.set(transId, {
    originatorConversationId: darajaRequestId(),
    conversationId: conversationId(),
    partyA: msisdn,
    phoneNumber: shortCode,
    amount: payment.amount,
    requestedAt: new Date(),
    state: 'completed',
    receipt: transId,
    finishedAt: new Date(),
  });
  ctx.persist();
  const confirmation = await post(
    ctx,
    'c2b_confirmation',
    registration.confirmationUrl,
    request((state.utilityFundsCents / 100).toFixed(2)),
  );
  return { transId, completed: true, validation, confirmation };
}
