import { DomainError } from '../common/domain-error.js';

export type DarajaOperation =
  'oauth' | 'stk_push' | 'stk_query' | 'c2b_register' | 'b2c' | 'transaction_status' | 'certificate';

/** Daraja's code for "the STK push is still waiting for the customer" (STK query). */
export const DARAJA_STILL_PROCESSING = '500.001.1001';
/** Daraja's code for an expired or superseded access token (served with 401, sometimes 404). */
export const DARAJA_INVALID_TOKEN = '404.001.03';
/** Deni's code for a request refused before sending (bad amount, phone, URL, length). */
export const INVALID_REQUEST = 'INVALID_REQUEST';
/** Daraja's code for a B2C OriginatorConversationID it has already accepted. */
export const DARAJA_DUPLICATE_ORIGINATOR = '500.002.1001';

export interface DarajaErrorInit {
  operation: DarajaOperation;
  /** HTTP status of Daraja's answer; undefined when there was no answer (network, timeout). */
  status?: number;
  /** Daraja's `errorCode` (`400.002.02`), or Deni's own for failures without one (`NETWORK`, `TIMEOUT`). */
  errorCode?: string;
  errorMessage: string;
  requestId?: string;
  /** Trying the same call again later may succeed (network trouble, timeouts, 429, 5xx). */
  retryable: boolean;
  /**
   * The request may have reached Daraja and taken effect although no answer came back (a timeout
   * or a connection lost after sending). For an STK push this means a prompt may be on its way.
   */
  outcomeUnknown?: boolean;
  cause?: unknown;
}

/**
 * A Daraja call that failed. Carries Daraja's own error fields; never secrets, tokens or URLs
 * (callback URLs contain MPESA_CALLBACK_SECRET).
 */
export class DarajaError extends DomainError {
  readonly operation: DarajaOperation;
  readonly status?: number;
  readonly errorCode?: string;
  readonly errorMessage: string;
  readonly requestId?: string;
  readonly retryable: boolean;
  readonly outcomeUnknown: boolean;
  /** B2C: Daraja already has a request with this OriginatorConversationID (e.g. a retried send). */
  readonly duplicateRequest: boolean;
  /** The access token was refused: expired, or superseded by a newer one. */
  readonly invalidToken: boolean;

  constructor(init: DarajaErrorInit) {
    const rejected = init.status !== undefined && init.status >= 400 && init.status < 500 && !init.retryable;
    super(
      init.errorCode === INVALID_REQUEST
        ? 'MPESA.INVALID_REQUEST'
        : rejected
          ? 'MPESA.DARAJA_REJECTED'
          : 'MPESA.DARAJA_UNAVAILABLE',
      // A request Daraja refused as malformed is the caller's to fix; anything else is Daraja (or
      // our credentials) being unavailable to the user, who can only try later.
      init.errorCode === INVALID_REQUEST || (rejected && init.operation !== 'oauth' && init.status === 400)
        ? 'invalid'
        : 'unavailable',
      `M-PESA ${init.operation}: ${init.errorMessage}${init.errorCode ? ` (${init.errorCode})` : ''}`,
      { operation: init.operation, status: init.status, errorCode: init.errorCode, retryable: init.retryable },
    );
    this.name = 'DarajaError';
    this.operation = init.operation;
    this.status = init.status;
    this.errorCode = init.errorCode;
    this.errorMessage = init.errorMessage;
    this.requestId = init.requestId;
    this.retryable = init.retryable;
    this.outcomeUnknown = init.outcomeUnknown ?? false;
    this.duplicateRequest = init.errorCode === DARAJA_DUPLICATE_ORIGINATOR;
    this.invalidToken = init.status === 401 || init.errorCode === DARAJA_INVALID_TOKEN;
    if (init.cause !== undefined) (this as { cause?: unknown }).cause = init.cause;
  }
}
