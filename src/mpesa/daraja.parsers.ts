// Daraja's payloads, one file per product in daraja/: what each callback and answer says, read
// defensively (daraja/payload.ts), and what Deni computes or answers for Daraja. Pure functions:
// no Nest, no I/O. The M-PESA flows and the Daraja simulator import them from here.
export { DarajaPayloadError, wholeShillings } from './daraja/payload.js';
export {
  parseDarajaErrorBody,
  parseOAuthResponse,
  type DarajaErrorBody,
  type OAuthResponse,
} from './daraja/http.parsers.js';
export {
  parseStkCallback,
  parseStkPushResponse,
  parseStkQueryResponse,
  type StkCallback,
  type StkPushResponse,
  type StkQueryResponse,
} from './daraja/stk.parsers.js';
export {
  C2B_REJECTION_CODES,
  c2bValidationAnswer,
  parseC2bRegisterResponse,
  parseC2bRequest,
  type C2bRegisterResponse,
  type C2bRejectionCode,
  type C2bRequest,
} from './daraja/c2b.parsers.js';
export { parseB2cResponse, parseB2cResult, type B2cResponse, type B2cResult } from './daraja/b2c.parsers.js';
export {
  parseTransactionStatusResponse,
  parseTransactionStatusResult,
  type TransactionStatusResponse,
  type TransactionStatusResult,
} from './daraja/transaction-status.parsers.js';
export { darajaTimestampToDate, nairobiTimestamp } from './daraja/timestamps.js';
export { publicKeyOf, securityCredential, stkPassword } from './daraja/credentials.js';
