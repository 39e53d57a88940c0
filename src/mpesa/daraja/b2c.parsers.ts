// B2C (money sent to a phone): the Result Daraja posts (or the same shape to QueueTimeOutURL), and
// its answer to our request.
import {
  codeText,
  bounded,
  MAX_RECEIPT_LENGTH,
  object,
  requiredId,
  resultCode,
  resultEnvelope,
  scalarText,
  text,
  wholeShillings,
} from './payload.js';
import { fromNairobiParts } from './timestamps.js';

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

export interface B2cResponse {
  conversationId: string;
  originatorConversationId: string;
  responseCode: string;
  responseDescription: string;
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

export function parseB2cResponse(body: unknown): B2cResponse {
  const root = object(body, '(body)');
  return {
    conversationId: requiredId(root, 'ConversationID', ''),
    originatorConversationId: requiredId(root, 'OriginatorConversationID', ''),
    responseCode: codeText(root.ResponseCode, 'ResponseCode'),
    responseDescription: text(root, 'ResponseDescription', ''),
  };
}

/** The number before ` - ` in a ReceiverPartyPublicName (digits, masked with `*`, spaces dropped). */
function receiverPhone(receiver: string): string | undefined {
  const dash = receiver.indexOf(' - ');
  const head = (dash >= 0 ? receiver.slice(0, dash) : receiver).replace(/\s+/g, '');
  return /^[\d*]+$/.test(head) && /\d/.test(head) ? head : undefined;
}

/** B2C's TransactionCompletedDateTime: `06.07.2024 22:48:52` (day first), Nairobi time. */
function b2cDateToDate(value: string): Date | undefined {
  const m = /^(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2}):(\d{2})$/.exec(value.trim());
  return m ? fromNairobiParts(m[3], m[2], m[1], m[4], m[5], m[6]) : undefined;
}
