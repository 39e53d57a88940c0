import { Inject, Injectable } from '@nestjs/common';
import { InjectRedis } from '../redis/redis.tokens.js';
import type { RedisClient } from '../redis/redis-connection.factory.js';
import { sendB2c, type B2cRequest } from './daraja/b2c.js';
import type { B2cResponse } from './daraja/b2c.parsers.js';
import { sendC2bRegistration, type C2bRegisterRequest } from './daraja/c2b.js';
import type { C2bRegisterResponse } from './daraja/c2b.parsers.js';
import { DarajaHttp } from './daraja/http.js';
import { sendStkPush, sendStkQuery, type StkPushRequest, type StkQueryResult } from './daraja/stk.js';
import type { StkPushResponse } from './daraja/stk.parsers.js';
import { sendTransactionStatusQuery, type TransactionStatusRequest } from './daraja/transaction-status.js';
import type { TransactionStatusResponse } from './daraja/transaction-status.parsers.js';
import { DARAJA_OPTIONS, type DarajaClientOptions } from './daraja.options.js';

/**
 * Safaricom Daraja over HTTP: OAuth, STK push and query, C2B URL registration, B2C, Transaction
 * Status. No business logic and no storage besides the shared access token; the M-PESA flows record
 * requests and results.
 *
 * The one Daraja API the flows inject, composed from src/mpesa/daraja/: the HTTP core (`http.ts`:
 * the access token shared by every instance through Redis, retries, errors, the certificate) and
 * one file per product that checks and sends its request (`stk.ts`, `c2b.ts`, `b2c.ts`,
 * `transaction-status.ts`), with the parsers of its answers and callbacks beside it
 * (`*.parsers.ts`, all exported by daraja.parsers.ts).
 */
@Injectable()
export class DarajaClient {
  private readonly http: DarajaHttp;

  constructor(@InjectRedis() redis: RedisClient, @Inject(DARAJA_OPTIONS) options: DarajaClientOptions) {
    this.http = new DarajaHttp(redis, options);
  }

  /** A valid access token: the shared one from Redis, or a new one (one OAuth call across instances). */
  accessToken(): Promise<string> {
    return this.http.accessToken();
  }

  /** Sends an STK push (Lipa na M-PESA Online). Never retried: a second send is a second prompt. */
  stkPush(request: StkPushRequest): Promise<StkPushResponse> {
    return sendStkPush(this.http, request);
  }

  /** Asks how an STK push ended. Idempotent, so retried on network failures. */
  stkQuery(checkoutRequestId: string): Promise<StkQueryResult> {
    return sendStkQuery(this.http, checkoutRequestId);
  }

  /** Registers the C2B validation and confirmation URLs of a shortcode. Not retried. */
  registerC2bUrls(request: C2bRegisterRequest): Promise<C2bRegisterResponse> {
    return sendC2bRegistration(this.http, request);
  }

  /**
   * Sends money to a phone (B2C), once: a failure whose outcome is unknown is reported as such
   * (`outcomeUnknown`), not retried. Sending the same OriginatorConversationID again after Daraja
   * took it fails with `duplicateRequest`.
   */
  b2c(request: B2cRequest): Promise<B2cResponse> {
    return sendB2c(this.http, request);
  }

  /**
   * Transaction Status (`TransactionStatusQuery`): asks M-PESA how a transaction ended, by
   * OriginatorConversationID or receipt, for the shortcode that made it (PartyA, IdentifierType 4).
   * The answer here is only an acknowledgement; the status comes as a Result callback. A query
   * changes nothing, so it is retried on network failures (at worst two Results arrive).
   */
  transactionStatus(request: TransactionStatusRequest): Promise<TransactionStatusResponse> {
    return sendTransactionStatusQuery(this.http, request);
  }
}
