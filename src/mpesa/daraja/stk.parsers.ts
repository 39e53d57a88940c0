// STK push (Lipa na M-PESA Online): the callback Daraja posts, and its answers to our push and query.
import {
  bounded,
  codeText,
  entries,
  MAX_RECEIPT_LENGTH,
  object,
  refuseNul,
  requiredId,
  resultCode,
  scalarText,
  text,
  wholeShillings,
} from './payload.js';

export interface StkCallback {
  merchantRequestId: string;
  checkoutRequestId: string;
  resultCode: number;
  resultDesc: string;
  /** Whole shillings (`1.00` → 1). Present on success only. */
  amount?: number;
  receipt?: string;
  /** `YYYYMMDDHHmmss`, Nairobi time, as Daraja sent it (see darajaTimestampToDate). */
  transactionDate?: string;
  /** As Daraja sent it: `2547…`, or a redacted/masked value in some captures. */
  phoneNumber?: string;
}

export interface StkQueryResponse {
  responseCode: string;
  responseDescription: string;
  merchantRequestId: string;
  checkoutRequestId: string;
  resultCode: number;
  resultDesc: string;
}

export interface StkPushResponse {
  merchantRequestId: string;
  checkoutRequestId: string;
  responseCode: string;
  responseDescription: string;
  customerMessage: string;
}

/** The STK push callback: `{Body: {stkCallback: {...}}}`. */
export function parseStkCallback(body: unknown): StkCallback {
  refuseNul(body);
  const root = object(body, '(body)');
  const inner = object(object(root.Body, 'Body').stkCallback, 'Body.stkCallback');
  const path = 'Body.stkCallback.';
  const callback: StkCallback = {
    merchantRequestId: requiredId(inner, 'MerchantRequestID', path),
    checkoutRequestId: requiredId(inner, 'CheckoutRequestID', path),
    resultCode: resultCode(inner.ResultCode, `${path}ResultCode`),
    resultDesc: text(inner, 'ResultDesc', path),
  };
  if (inner.CallbackMetadata === undefined || inner.CallbackMetadata === null) return callback;
  const metaField = `${path}CallbackMetadata`;
  const items = entries(object(inner.CallbackMetadata, metaField).Item, `${metaField}.Item`, 'Name');
  const amount = items.get('Amount');
  if (amount !== undefined && amount !== null) callback.amount = wholeShillings(amount, `${metaField}.Amount`);
  const receipt = scalarText(items.get('MpesaReceiptNumber'), `${metaField}.MpesaReceiptNumber`);
  if (receipt) callback.receipt = bounded(receipt, MAX_RECEIPT_LENGTH, `${metaField}.MpesaReceiptNumber`);
  const date = scalarText(items.get('TransactionDate'), `${metaField}.TransactionDate`);
  if (date) callback.transactionDate = date;
  const phone = scalarText(items.get('PhoneNumber'), `${metaField}.PhoneNumber`);
  if (phone) callback.phoneNumber = phone;
  return callback;
}

/** The STK query answer once the push is decided (while pending Daraja answers an error instead). */
export function parseStkQueryResponse(body: unknown): StkQueryResponse {
  const root = object(body, '(body)');
  return {
    responseCode: codeText(root.ResponseCode, 'ResponseCode'),
    responseDescription: text(root, 'ResponseDescription', ''),
    merchantRequestId: requiredId(root, 'MerchantRequestID', ''),
    checkoutRequestId: requiredId(root, 'CheckoutRequestID', ''),
    resultCode: resultCode(root.ResultCode, 'ResultCode'),
    resultDesc: text(root, 'ResultDesc', ''),
  };
}

export function parseStkPushResponse(body: unknown): StkPushResponse {
  const root = object(body, '(body)');
  return {
    merchantRequestId: requiredId(root, 'MerchantRequestID', ''),
    checkoutRequestId: requiredId(root, 'CheckoutRequestID', ''),
    responseCode: codeText(root.ResponseCode, 'ResponseCode'),
    responseDescription: text(root, 'ResponseDescription', ''),
    customerMessage: text(root, 'CustomerMessage', ''),
  };
}
