// Transaction Status: the Result Daraja posts for a query, and its acknowledgement of the query.
import { parseB2cResponse, type B2cResponse } from './b2c.parsers.js';
import {
  bounded,
  DarajaPayloadError,
  describeValue,
  MAX_ID_LENGTH,
  MAX_RECEIPT_LENGTH,
  resultEnvelope,
  scalarText,
  wholeShillings,
} from './payload.js';
import { darajaTimestampToDate } from './timestamps.js';

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

/** The Transaction Status query's acknowledgement: the same fields as B2C's. */
export type TransactionStatusResponse = B2cResponse;
export const parseTransactionStatusResponse: (body: unknown) => TransactionStatusResponse = parseB2cResponse;

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

/** Result codes are numbers or short strings (`SFC_IC0003`); kept as text. */
function codeOrText(value: unknown, field: string): string {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'string' && /^\s*[A-Za-z0-9_.-]{1,32}\s*$/.test(value)) return value.trim();
  throw new DarajaPayloadError(`expected a result code, got ${describeValue(value)}`, field);
}
