// C2B (paybill and till payments): the validation and confirmation requests Daraja posts, what
// Deni answers a validation with, and Daraja's answer to the URL registration.
import {
  codeText,
  DarajaPayloadError,
  describeValue,
  MAX_RECEIPT_LENGTH,
  object,
  optionalText,
  refuseNul,
  requiredId,
  scalarText,
  text,
  wholeShillings,
} from './payload.js';

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

export interface C2bRegisterResponse {
  /** Daraja spells the field `OriginatorCoversationID`; either spelling is read. */
  originatorConversationId?: string;
  responseCode: string;
  responseDescription: string;
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
    throw new DarajaPayloadError(`expected a shortcode, got ${describeValue(shortCode)}`, 'BusinessShortCode');
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

export function parseC2bRegisterResponse(body: unknown): C2bRegisterResponse {
  const root = object(body, '(body)');
  const id = optionalText(root, 'OriginatorCoversationID', '') ?? optionalText(root, 'OriginatorConversationID', '');
  return {
    ...(id ? { originatorConversationId: id } : {}),
    responseCode: codeText(root.ResponseCode, 'ResponseCode'),
    responseDescription: text(root, 'ResponseDescription', ''),
  };
}

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
