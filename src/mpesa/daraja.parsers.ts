// Size: over 400 lines. Every Daraja payload reader (requests' answers, STK/C2B/B2C/Transaction
// Status callbacks) with its quirks. Splitting it by flow, behind the same tests, is the
// restructuring issue ("A house to live in"), kept out of feature changes.
import { constants, createPublicKey, publicEncrypt, X509Certificate, type KeyObject } from 'node:crypto';
import { fromNairobiWallClock, nairobiWallClock } from '../common/nairobi-clock.js';

/**
 * Daraja's bodies, read defensively. Daraja mixes types freely (ResultCode is a number in callbacks
 * and a string in query answers, amounts come as `1.00`, `"10"` or `"5.00"`, metadata items may
 * lack a Value), so every reader accepts the shapes Safaricom has been seen to send and rejects
 * everything else with a DarajaPayloadError naming the field. Pure functions: no Nest, no I/O.
 */

export class DarajaPayloadError extends Error {
  constructor(
    message: string,
    /** Dotted path of the offending field, e.g. `Body.stkCallback.ResultCode`. */
    readonly field?: string,
  ) {
    super(field ? `${field}: ${message}` : message);
    this.name = 'DarajaPayloadError';
  }
}

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

export interface C2bRequest {
  transId: string;
  transType: string;
  /** `YYYYMMDDHHmmss`, Nairobi time. */
  transTime: string;
  /** Whole shillings (`"5.00"` → 5). */
  amount: number;
  billRefNumber: string;
  shortCode: string;
  /** As given: Daraja masks it (`25470****149`, `2547 ***** 126`). */
  msisdn: string;
  invoiceNumber?: string;
  thirdPartyTransId?: string;
  /** The shortcode's balance after a confirmation (blank on validation), as Daraja wrote it. */
  orgAccountBalance?: string;
  firstName?: string;
  middleName?: string;
  lastName?: string;
}

export interface B2cResult {
  resultType?: number;
  resultCode: number;
  resultDesc: string;
  originatorConversationId: string;
  conversationId: string;
  /** Daraja sends one on failures too; absent only in odd bodies (e.g. some queue timeouts). */
  transactionId?: string;
  receipt?: string;
  /** Whole shillings. */
  amount?: number;
  /** `2547… - NAME` as Daraja wrote it. */
  receiverName?: string;
  /**
   * The number at the head of receiverName (`254705912645` of `254705912645 - NAME`), as written
   * (possibly masked, `2547****645`); absent when receiverName does not start with one.
   */
  receiverPhone?: string;
  /** TransactionCompletedDateTime (`dd.MM.yyyy HH:mm:ss`, Nairobi time), when it parses. */
  completedAt?: Date;
}

/**
 * The Result of a Transaction Status query (posted to its ResultURL). The top-level ids are the
 * query's own; `transaction` describes the transaction asked about, from ResultParameters.
 */
export interface TransactionStatusResult {
  resultType?: number;
  /**
   * As text: Daraja sends numbers (`0`, `2001`) and strings (`"SFC_IC0003"`). Anything but `"0"`
   * means the query gave no answer about the transaction (bad credentials, unknown id, …), not
   * that the transaction failed.
   */
  resultCode: string;
  resultDesc: string;
  originatorConversationId: string;
  conversationId: string;
  transactionId?: string;
  transaction: {
    /** `TransactionStatus`, e.g. `Completed`; absent when Daraja sent no ResultParameters. */
    status?: string;
    /** `ReceiptNo`, the M-PESA receipt of the transaction. */
    receipt?: string;
    /** `Amount`, whole shillings. */
    amount?: number;
    /** The transaction's OriginatorConversationID (for a B2C, the one Deni sent). */
    originatorConversationId?: string;
    conversationId?: string;
    /** `FinalisedTime` (`YYYYMMDDHHmmss`, Nairobi time), when it parses. */
    finalisedAt?: Date;
  };
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

export interface B2cResponse {
  conversationId: string;
  originatorConversationId: string;
  responseCode: string;
  responseDescription: string;
}

export interface C2bRegisterResponse {
  /** Daraja spells the field `OriginatorCoversationID`; either spelling is read. */
  originatorConversationId?: string;
  responseCode: string;
  responseDescription: string;
}

export interface OAuthResponse {
  accessToken: string;
  /** `expires_in`, a number in the docs and a string in some live answers. */
  expiresInSeconds: number;
}

/** Daraja's error envelope `{requestId, errorCode, errorMessage}`; null when the body is not one. */
export interface DarajaErrorBody {
  requestId?: string;
  errorCode?: string;
  errorMessage?: string;
}

// ---------------------------------------------------------------------------------------------
// Readers

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function object(value: unknown, field: string): Json {
  if (!isObject(value)) throw new DarajaPayloadError(`expected an object, got ${describe(value)}`, field);
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? 'a long string' : `the string ${JSON.stringify(value)}`;
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value;
}

/**
 * Daraja's ids are short (TransID and receipts 10 characters, request ids about 30); the columns
 * that keep them hold 64 (32 for TransID and receipts). Anything longer is a malformed body, not
 * a database error.
 */
const MAX_ID_LENGTH = 64;
const MAX_RECEIPT_LENGTH = 32;

function requiredId(parent: Json, key: string, path: string, maxLength = MAX_ID_LENGTH): string {
  const value = parent[key];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new DarajaPayloadError(`expected a non-empty string, got ${describe(value)}`, `${path}${key}`);
  }
  return bounded(value, maxLength, `${path}${key}`);
}

/** Half of a UTF-16 surrogate pair without its other half: no Unicode character at all. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * PostgreSQL text and jsonb cannot hold U+0000 nor a lone surrogate (JSON's `"\ud800"`), and
 * callbacks are stored as they came: a body carrying one anywhere (key or value) is malformed.
 * Iterative, so no nesting can overflow it.
 */
function refuseNul(body: unknown): void {
  const pending: unknown[] = [body];
  while (pending.length) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (value.includes('\u0000')) throw new DarajaPayloadError('expected text without NUL characters', '(body)');
      if (LONE_SURROGATE.test(value)) throw new DarajaPayloadError('expected text without lone surrogates', '(body)');
    } else if (typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value)) pending.push(k, v);
    }
  }
}

function bounded(value: string, maxLength: number, field: string): string {
  if (value.length > maxLength)
    throw new DarajaPayloadError(`expected at most ${maxLength} characters, got ${value.length}`, field);
  return value;
}

/** A string field that may be missing (→ default); any other type is malformed. */
function text(parent: Json, key: string, path: string, fallback = ''): string {
  const value = parent[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string')
    throw new DarajaPayloadError(`expected a string, got ${describe(value)}`, `${path}${key}`);
  return value;
}

/** Blank optional strings (Daraja sends `""` for absent values) become undefined. */
function optionalText(parent: Json, key: string, path: string): string | undefined {
  const value = text(parent, key, path);
  return value.trim() === '' ? undefined : value;
}

/** Codes arrive as numbers (callbacks) or numeric strings (query answers). */
function resultCode(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'string' && /^\s*-?\d{1,9}\s*$/.test(value)) return Number.parseInt(value, 10);
  throw new DarajaPayloadError(`expected a numeric result code, got ${describe(value)}`, field);
}

/** Whole shillings from `1`, `1.00`, `"10"` or `"5.00"`; fractions and non-positive amounts are malformed. */
export function wholeShillings(value: unknown, field = 'amount'): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^\s*\d{1,15}(\.\d{1,4})?\s*$/.test(value)) n = Number(value);
  else throw new DarajaPayloadError(`expected an amount, got ${describe(value)}`, field);
  if (!Number.isSafeInteger(n)) throw new DarajaPayloadError(`expected whole shillings, got ${describe(value)}`, field);
  if (n <= 0) throw new DarajaPayloadError(`expected a positive amount, got ${describe(value)}`, field);
  return n;
}

/** A scalar metadata value as text (TransactionDate and PhoneNumber come as numbers). */
function scalarText(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw new DarajaPayloadError(`expected a string or whole number, got ${describe(value)}`, field);
}

/** `Item` / `ResultParameter`: usually an array, a single object when there is one entry. */
function entries(value: unknown, field: string, keyName: 'Name' | 'Key'): Map<string, unknown> {
  const list = value === undefined || value === null ? [] : Array.isArray(value) ? value : [value];
  const found = new Map<string, unknown>();
  list.forEach((entry, i) => {
    const item = object(entry, `${field}[${i}]`);
    const name = item[keyName];
    if (typeof name !== 'string')
      throw new DarajaPayloadError(`expected a string ${keyName}, got ${describe(name)}`, `${field}[${i}].${keyName}`);
    // An item without a Value (seen in sandbox captures: {"Name": "Balance"}) is simply absent.
    if (!found.has(name)) found.set(name, item.Value);
  });
  return found;
}

// ---------------------------------------------------------------------------------------------
// Bodies Daraja sends to us

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

/** A C2B validation or confirmation request (the same structure for both). */
export function parseC2bRequest(body: unknown): C2bRequest {
  refuseNul(body);
  const root = object(body, '(body)');
  const shortCode = root.BusinessShortCode;
  if (
    !(typeof shortCode === 'string' && shortCode.trim() !== '') &&
    !(typeof shortCode === 'number' && Number.isSafeInteger(shortCode))
  ) {
    throw new DarajaPayloadError(`expected a shortcode, got ${describe(shortCode)}`, 'BusinessShortCode');
  }
  const msisdn = scalarText(root.MSISDN, 'MSISDN');
  if (!msisdn) throw new DarajaPayloadError('expected the payer MSISDN', 'MSISDN');
  return {
    transId: requiredId(root, 'TransID', '', MAX_RECEIPT_LENGTH),
    transType: text(root, 'TransactionType', ''),
    transTime: scalarText(root.TransTime, 'TransTime') ?? '',
    amount: wholeShillings(root.TransAmount, 'TransAmount'),
    // Till (Buy Goods) payments carry no account reference.
    billRefNumber: scalarText(root.BillRefNumber, 'BillRefNumber') ?? '',
    shortCode: String(shortCode),
    msisdn,
    invoiceNumber: optionalText(root, 'InvoiceNumber', ''),
    thirdPartyTransId: optionalText(root, 'ThirdPartyTransID', ''),
    orgAccountBalance: optionalText(root, 'OrgAccountBalance', ''),
    firstName: optionalText(root, 'FirstName', ''),
    middleName: optionalText(root, 'MiddleName', ''),
    lastName: optionalText(root, 'LastName', ''),
  };
}

/**
 * The envelope every asynchronous `Result` of Daraja shares (B2C, Transaction Status): ids, the
 * result code (read by `code`), the transaction id, and the ResultParameters by Key, if any.
 */
function resultEnvelope<C>(body: unknown, code: (value: unknown, field: string) => C) {
  refuseNul(body);
  const inner = object(object(body, '(body)').Result, 'Result');
  const path = 'Result.';
  const head: {
    resultType?: number;
    resultCode: C;
    resultDesc: string;
    originatorConversationId: string;
    conversationId: string;
    transactionId?: string;
  } = {
    resultCode: code(inner.ResultCode, `${path}ResultCode`),
    resultDesc: text(inner, 'ResultDesc', path),
    originatorConversationId: requiredId(inner, 'OriginatorConversationID', path),
    conversationId: requiredId(inner, 'ConversationID', path),
  };
  if (inner.ResultType !== undefined && inner.ResultType !== null)
    head.resultType = resultCode(inner.ResultType, `${path}ResultType`);
  const transactionId = optionalText(inner, 'TransactionID', path);
  if (transactionId) head.transactionId = bounded(transactionId, MAX_RECEIPT_LENGTH, `${path}TransactionID`);
  const paramsField = `${path}ResultParameters`;
  const params =
    inner.ResultParameters === undefined || inner.ResultParameters === null || inner.ResultParameters === ''
      ? null
      : entries(object(inner.ResultParameters, paramsField).ResultParameter, `${paramsField}.ResultParameter`, 'Key');
  return { head, params, paramsField };
}

/** A B2C result (ResultURL), or the same shape posted to QueueTimeOutURL. */
export function parseB2cResult(body: unknown): B2cResult {
  const { head, params, paramsField } = resultEnvelope(body, resultCode);
  const result: B2cResult = head;
  if (!params) return result;
  const amount = params.get('TransactionAmount');
  if (amount !== undefined && amount !== null)
    result.amount = wholeShillings(amount, `${paramsField}.TransactionAmount`);
  const receipt = scalarText(params.get('TransactionReceipt'), `${paramsField}.TransactionReceipt`);
  if (receipt) result.receipt = bounded(receipt, MAX_RECEIPT_LENGTH, `${paramsField}.TransactionReceipt`);
  const receiver = scalarText(params.get('ReceiverPartyPublicName'), `${paramsField}.ReceiverPartyPublicName`);
  if (receiver) {
    result.receiverName = receiver;
    const phone = receiverPhone(receiver);
    if (phone) result.receiverPhone = phone;
  }
  const completed = scalarText(
    params.get('TransactionCompletedDateTime'),
    `${paramsField}.TransactionCompletedDateTime`,
  );
  // A date in an unexpected format must not hold up a result that moved money: it is left out.
  const completedAt = completed ? b2cDateToDate(completed) : undefined;
  if (completedAt) result.completedAt = completedAt;
  return result;
}

/** The number before ` - ` in a ReceiverPartyPublicName (digits, masked with `*`, spaces dropped). */
function receiverPhone(receiver: string): string | undefined {
  const dash = receiver.indexOf(' - ');
  const head = (dash >= 0 ? receiver.slice(0, dash) : receiver).replace(/\s+/g, '');
  return /^[\d*]+$/.test(head) && /\d/.test(head) ? head : undefined;
}

/** Result codes are numbers or short strings (`SFC_IC0003`); kept as text. */
function codeOrText(value: unknown, field: string): string {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'string' && /^\s*[A-Za-z0-9_.-]{1,32}\s*$/.test(value)) return value.trim();
  throw new DarajaPayloadError(`expected a result code, got ${describe(value)}`, field);
}

/** A Transaction Status query's Result (ResultURL). Only the fields Deni acts on are read. */
export function parseTransactionStatusResult(body: unknown): TransactionStatusResult {
  const { head, params, paramsField } = resultEnvelope(body, codeOrText);
  const result: TransactionStatusResult = { ...head, transaction: {} };
  if (!params) return result;
  const field = (key: string) => `${paramsField}.${key}`;
  const status = scalarText(params.get('TransactionStatus'), field('TransactionStatus'));
  if (status?.trim()) result.transaction.status = bounded(status.trim(), MAX_ID_LENGTH, field('TransactionStatus'));
  const receipt = scalarText(params.get('ReceiptNo'), field('ReceiptNo'));
  if (receipt?.trim()) result.transaction.receipt = bounded(receipt.trim(), MAX_RECEIPT_LENGTH, field('ReceiptNo'));
  const amount = params.get('Amount');
  if (amount !== undefined && amount !== null && amount !== '')
    result.transaction.amount = wholeShillings(amount, field('Amount'));
  const originator = scalarText(params.get('OriginatorConversationID'), field('OriginatorConversationID'));
  if (originator?.trim())
    result.transaction.originatorConversationId = bounded(
      originator.trim(),
      MAX_ID_LENGTH,
      field('OriginatorConversationID'),
    );
  const conversation = scalarText(params.get('ConversationID'), field('ConversationID'));
  if (conversation?.trim())
    result.transaction.conversationId = bounded(conversation.trim(), MAX_ID_LENGTH, field('ConversationID'));
  const finalised = scalarText(params.get('FinalisedTime'), field('FinalisedTime'));
  // Like B2C's completion date: a date in another format must not hold up the result.
  const finalisedAt = finalised ? darajaTimestampToDate(finalised.trim()) : undefined;
  if (finalisedAt) result.transaction.finalisedAt = finalisedAt;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Answers to our requests

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

export function parseB2cResponse(body: unknown): B2cResponse {
  const root = object(body, '(body)');
  return {
    conversationId: requiredId(root, 'ConversationID', ''),
    originatorConversationId: requiredId(root, 'OriginatorConversationID', ''),
    responseCode: codeText(root.ResponseCode, 'ResponseCode'),
    responseDescription: text(root, 'ResponseDescription', ''),
  };
}

/** The Transaction Status query's acknowledgement: the same fields as B2C's. */
export type TransactionStatusResponse = B2cResponse;
export const parseTransactionStatusResponse: (body: unknown) => TransactionStatusResponse = parseB2cResponse;

export function parseC2bRegisterResponse(body: unknown): C2bRegisterResponse {
  const root = object(body, '(body)');
  const id = optionalText(root, 'OriginatorCoversationID', '') ?? optionalText(root, 'OriginatorConversationID', '');
  return {
    ...(id ? { originatorConversationId: id } : {}),
    responseCode: codeText(root.ResponseCode, 'ResponseCode'),
    responseDescription: text(root, 'ResponseDescription', ''),
  };
}

export function parseOAuthResponse(body: unknown): OAuthResponse {
  const root = object(body, '(body)');
  const accessToken = requiredId(root, 'access_token', '');
  const raw = root.expires_in;
  const seconds =
    typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d{1,9}\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new DarajaPayloadError(`expected a positive number of seconds, got ${describe(raw)}`, 'expires_in');
  }
  return { accessToken, expiresInSeconds: seconds };
}

/** Daraja's `{requestId, errorCode, errorMessage}`, or null when the body is something else. */
export function parseDarajaErrorBody(body: unknown): DarajaErrorBody | null {
  if (!isObject(body)) return null;
  const pick = (key: string) =>
    typeof body[key] === 'string' || typeof body[key] === 'number' ? String(body[key]) : undefined;
  const found: DarajaErrorBody = {
    requestId: pick('requestId'),
    errorCode: pick('errorCode'),
    errorMessage: pick('errorMessage'),
  };
  return found.errorCode !== undefined || found.errorMessage !== undefined ? found : null;
}

function codeText(value: unknown, field: string): string {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw new DarajaPayloadError(`expected a response code, got ${describe(value)}`, field);
}

// ---------------------------------------------------------------------------------------------
// What we answer Daraja

/** C2B validation rejection codes (Daraja docs, C2B "Validation" result codes). */
export const C2B_REJECTION_CODES = {
  invalidMsisdn: 'C2B00011',
  invalidAccountNumber: 'C2B00012',
  invalidAmount: 'C2B00013',
  invalidKycDetails: 'C2B00014',
  invalidShortcode: 'C2B00015',
  otherError: 'C2B00016',
} as const;
export type C2bRejectionCode = (typeof C2B_REJECTION_CODES)[keyof typeof C2B_REJECTION_CODES];

/** The body a C2B validation URL answers with: `{"ResultCode": "0", "ResultDesc": "Accepted"}` or a rejection. */
export function c2bValidationAnswer(rejection?: C2bRejectionCode): { ResultCode: string; ResultDesc: string } {
  return rejection ? { ResultCode: rejection, ResultDesc: 'Rejected' } : { ResultCode: '0', ResultDesc: 'Accepted' };
}

// ---------------------------------------------------------------------------------------------
// What we compute for Daraja

/** `YYYYMMDDHHmmss` in Nairobi time, as Daraja's Timestamp fields want. */
export function nairobiTimestamp(date: Date = new Date()): string {
  const iso = nairobiWallClock(date.getTime()).toISOString();
  return iso.slice(0, 19).replace(/[-T:]/g, '');
}

/** The inverse of nairobiTimestamp (also reads TransactionDate and TransTime); undefined when malformed. */
export function darajaTimestampToDate(timestamp: string | number): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(String(timestamp));
  if (!m) return undefined;
  return fromNairobiParts(m[1], m[2], m[3], m[4], m[5], m[6]);
}

/** B2C's TransactionCompletedDateTime: `06.07.2024 22:48:52` (day first), Nairobi time. */
function b2cDateToDate(value: string): Date | undefined {
  const m = /^(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2}):(\d{2})$/.exec(value.trim());
  return m ? fromNairobiParts(m[3], m[2], m[1], m[4], m[5], m[6]) : undefined;
}

function fromNairobiParts(...parts: string[]): Date | undefined {
  const [y, mo, d, h, mi, s] = parts.map(Number);
  const date = fromNairobiWallClock(y, mo, d, h, mi, s);
  // Reject 20241332… rather than letting Date roll it over into another month.
  return nairobiTimestamp(date) === parts.join('') ? date : undefined;
}

/** STK push and query Password: base64(shortcode + passkey + timestamp). */
export function stkPassword(shortcode: string, passkey: string, timestamp: string): string {
  return Buffer.from(`${shortcode}${passkey}${timestamp}`, 'utf8').toString('base64');
}

/**
 * B2C SecurityCredential: the initiator password encrypted with the public key of Safaricom's
 * certificate (an X.509 certificate PEM; a bare public key PEM also works), RSA PKCS#1 v1.5,
 * base64. The ciphertext differs on every call (random padding); Daraja decrypts it.
 */
export function securityCredential(password: string, certificatePem: string | KeyObject): string {
  const key = typeof certificatePem === 'string' ? publicKeyOf(certificatePem) : certificatePem;
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(password, 'utf8')).toString('base64');
}

/** The public key inside a certificate PEM (or a public key PEM as is). */
export function publicKeyOf(pem: string): KeyObject {
  if (pem.includes('BEGIN CERTIFICATE')) return new X509Certificate(pem).publicKey;
  return createPublicKey(pem);
}
