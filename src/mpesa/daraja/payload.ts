// Daraja's bodies, read defensively: the readers every product's parsers share. Daraja mixes
// types freely (ResultCode is a number in callbacks and a string in query answers, amounts come
// as `1.00`, `"10"` or `"5.00"`, metadata items may lack a Value), so every reader accepts the
// shapes Safaricom has been seen to send and rejects everything else with a DarajaPayloadError
// naming the field. Pure functions: no Nest, no I/O.

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

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function object(value: unknown, field: string): Json {
  if (!isObject(value)) throw new DarajaPayloadError(`expected an object, got ${describeValue(value)}`, field);
  return value;
}

export function describeValue(value: unknown): string {
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
export const MAX_ID_LENGTH = 64;
export const MAX_RECEIPT_LENGTH = 32;

export function requiredId(parent: Json, key: string, path: string, maxLength = MAX_ID_LENGTH): string {
  const value = parent[key];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new DarajaPayloadError(`expected a non-empty string, got ${describeValue(value)}`, `${path}${key}`);
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
export function refuseNul(body: unknown): void {
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

export function bounded(value: string, maxLength: number, field: string): string {
  if (value.length > maxLength)
    throw new DarajaPayloadError(`expected at most ${maxLength} characters, got ${value.length}`, field);
  return value;
}

/** A string field that may be missing (→ default); any other type is malformed. */
export function text(parent: Json, key: string, path: string, fallback = ''): string {
  const value = parent[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string')
    throw new DarajaPayloadError(`expected a string, got ${describeValue(value)}`, `${path}${key}`);
  return value;
}

/** Blank optional strings (Daraja sends `""` for absent values) become undefined. */
export function optionalText(parent: Json, key: string, path: string): string | undefined {
  const value = text(parent, key, path);
  return value.trim() === '' ? undefined : value;
}

/** Codes arrive as numbers (callbacks) or numeric strings (query answers). */
export function resultCode(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'string' && /^\s*-?\d{1,9}\s*$/.test(value)) return Number.parseInt(value, 10);
  throw new DarajaPayloadError(`expected a numeric result code, got ${describeValue(value)}`, field);
}

/** ResponseCode of an answer to our requests: a non-blank string or a whole number, as text. */
export function codeText(value: unknown, field: string): string {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw new DarajaPayloadError(`expected a response code, got ${describeValue(value)}`, field);
}

/** Whole shillings from `1`, `1.00`, `"10"` or `"5.00"`; fractions and non-positive amounts are malformed. */
export function wholeShillings(value: unknown, field = 'amount'): number {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^\s*\d{1,15}(\.\d{1,4})?\s*$/.test(value)) n = Number(value);
  else throw new DarajaPayloadError(`expected an amount, got ${describeValue(value)}`, field);
  if (!Number.isSafeInteger(n))
    throw new DarajaPayloadError(`expected whole shillings, got ${describeValue(value)}`, field);
  if (n <= 0) throw new DarajaPayloadError(`expected a positive amount, got ${describeValue(value)}`, field);
  return n;
}

/** A scalar metadata value as text (TransactionDate and PhoneNumber come as numbers). */
export function scalarText(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw new DarajaPayloadError(`expected a string or whole number, got ${describeValue(value)}`, field);
}

/** `Item` / `ResultParameter`: usually an array, a single object when there is one entry. */
export function entries(value: unknown, field: string, keyName: 'Name' | 'Key'): Map<string, unknown> {
  const list = value === undefined || value === null ? [] : Array.isArray(value) ? value : [value];
  const found = new Map<string, unknown>();
  list.forEach((entry, i) => {
    const item = object(entry, `${field}[${i}]`);
    const name = item[keyName];
    if (typeof name !== 'string')
      throw new DarajaPayloadError(
        `expected a string ${keyName}, got ${describeValue(name)}`,
        `${field}[${i}].${keyName}`,
      );
    // An item without a Value (seen in sandbox captures: {"Name": "Balance"}) is simply absent.
    if (!found.has(name)) found.set(name, item.Value);
  });
  return found;
}

/**
 * The envelope every asynchronous `Result` of Daraja shares (B2C, Transaction Status): ids, the
 * result code (read by `code`), the transaction id, and the ResultParameters by Key, if any.
 */
export function resultEnvelope<C>(body: unknown, code: (value: unknown, field: string) => C) {
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
