// Payments to Deni's paybill (C2B): Daraja's validation and confirmation, the Transaction Status
// check that may be required before crediting (MPESA_C2B_VERIFY), and the credit itself.
import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { isUuid } from '../common/ids.js';
import { parseKenyanMobile } from '../common/phone-number.js';
import type { AppConfig } from '../config/app-config.js';
import { TransactionService } from '../database/transaction.service.js';
import { LoansService } from '../loans/loans.service.js';
import { UsersService } from '../users/users.service.js';
import { DarajaClient } from './daraja.client.js';
import { parseC2bRequest, parseTransactionStatusResult, type C2bRequest } from './daraja.parsers.js';
import type { MismatchKind, MpesaPayment } from './mpesa-payment.entity.js';
import { MpesaPaymentsRepository } from './mpesa-payments.repository.js';
import { CallbackMismatches } from './callback-mismatches.service.js';
import { MpesaCallbackUrls } from './mpesa-callback-urls.js';
import { C2B_ACCEPT, C2B_INVALID_ACCOUNT, C2B_INVALID_AMOUNT, TOP_UP_LIMITS, type C2bAnswer } from './mpesa.rules.js';
import { duration, readCallback } from './payment-matching.js';
import { canTransition, initialStatus } from './payment-state.js';

@Injectable()
export class PaybillService {
  private readonly logger = new Logger(PaybillService.name);
  private readonly settings: AppConfig['mpesa'];

  constructor(
    private readonly daraja: DarajaClient,
    private readonly loans: LoansService,
    private readonly users: UsersService,
    private readonly transactions: TransactionService,
    private readonly payments: MpesaPaymentsRepository,
    private readonly mismatches: CallbackMismatches,
    private readonly urls: MpesaCallbackUrls,
    @InjectDataSource() private readonly dataSource: DataSource,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('mpesa', { infer: true });
  }

  /** Tells Daraja where to send paybill payments (once per shortcode, by an operator). */
  async registerC2bUrls() {
    return this.daraja.registerC2bUrls({
      validationUrl: this.urls.callbackUrl('c2b/validation'),
      confirmationUrl: this.urls.callbackUrl('c2b/confirmation'),
      // Should our validation URL not answer, Daraja refuses the payment rather than taking money
      // for an account we could not check.
      responseType: 'Cancelled',
    });
  }

  /** Daraja asks whether to accept a payment: the account reference must be a user's phone. */
  async validateC2b(body: unknown): Promise<C2bAnswer> {
    let request;
    try {
      request = parseC2bRequest(body);
    } catch {
      return C2B_INVALID_ACCOUNT;
    }
    if (request.amount < TOP_UP_LIMITS.min || request.amount > TOP_UP_LIMITS.max) return C2B_INVALID_AMOUNT;
    const phone = parseKenyanMobile(request.billRefNumber);
    if (!phone.ok || !(await this.users.findByPhone(phone.msisdn))) return C2B_INVALID_ACCOUNT;
    return C2B_ACCEPT;
  }

  /** Daraja confirms a payment: credit the account reference's wallet, once per TransID. */
  async confirmC2b(body: unknown): Promise<{ applied: boolean }> {
    const request = readCallback(parseC2bRequest, body);
    const phone = parseKenyanMobile(request.billRefNumber);
    const user = phone.ok ? await this.users.findByPhone(phone.msisdn) : null;
    // Recorded first (pending until credited), so a credit a crash interrupted is found and
    // finished by reconciliation even if Daraja never repeats the confirmation.
    const inserted: unknown[] = await this.dataSource.query(
      `INSERT INTO mpesa_payments (id, kind, status, user_id, phone_number, amount, trans_id, receipt, callback, needs_review)
       VALUES ($1, 'c2b', $2, $3, $4, $5, $6, $6, $7::jsonb, $8) ON CONFLICT (trans_id) WHERE trans_id IS NOT NULL DO NOTHING RETURNING id`,
      [
        randomUUID(),
        initialStatus('c2b', user ? 'confirmation' : 'unrecognised'),
        user?.id ?? null,
        (user?.phoneNumber ?? request.billRefNumber).slice(0, 32),
        request.amount,
        request.transId,
        JSON.stringify(body),
        !user,
      ],
    );
    if (!user) {
      // Money M-PESA took for nobody Deni knows: kept for an operator, never guessed at.
      this.logger.warn({ transId: request.transId }, 'C2B payment for an unknown account reference');
      return { applied: false };
    }
    const row = await this.payments.byTransIdOrFail(request.transId);
    if (request.shortCode !== this.settings.shortcode) {
      await this.mismatches.flag(
        row.id,
        {
          resultCode: 0,
          receipt: request.transId,
          amount: request.amount,
          phoneNumber: request.msisdn,
          shortCode: request.shortCode,
        },
        ['shortcode'],
        'C2B confirmation for another shortcode',
      );
    }
    if (!this.settings.c2bVerify) {
      await this.creditC2b(row);
      return { applied: inserted.length > 0 };
    }
    // A confirmation is only Daraja's (unsigned) word: Transaction Status is asked, and its answer
    // (handleC2bStatusResult) credits. Not asked now: reconciliation asks again.
    try {
      await this.askC2bStatus(row);
    } catch (err) {
      this.logger.warn(
        { id: row.id, err: (err as Error).message },
        'Transaction Status not asked about a paybill payment: reconciliation asks again',
      );
    }
    return { applied: false };
  }

  /** Asks Daraja (Transaction Status, by TransID on the paybill) about a recorded paybill payment. */
  async askC2bStatus(row: MpesaPayment): Promise<void> {
    if (!canTransition('c2b', row.status, 'paid') || !row.transId) return;
    await this.daraja.transactionStatus({
      transactionId: row.transId,
      partyA: this.settings.shortcode,
      resultUrl: this.urls.callbackUrl(`c2b/status/${row.id}/result`),
      queueTimeoutUrl: this.urls.callbackUrl(`c2b/status/${row.id}/timeout`),
      remarks: 'Deni paybill check',
    });
  }

  /**
   * Transaction Status's answer about a paybill payment (MPESA_C2B_VERIFY): Completed, with the
   * payment's TransID as ReceiptNo and its amount, credits it (once, by TransID). Completed with
   * another receipt or amount is flagged and credits nothing. Anything else (unknown transaction,
   * the query failed) changes nothing: reconciliation asks again.
   */
  async handleC2bStatusResult(paymentId: string, body: unknown): Promise<{ applied: boolean }> {
    const result = readCallback(parseTransactionStatusResult, body);
    const payment = isUuid(paymentId) ? await this.payments.byId(paymentId) : null;
    if (!payment || payment.kind !== 'c2b' || !canTransition('c2b', payment.status, 'paid')) return { applied: false };
    const { transaction } = result;
    if (result.resultCode !== '0' || transaction.status?.toLowerCase() !== 'completed') {
      this.logger.warn(
        { id: payment.id, resultCode: result.resultCode, transactionStatus: transaction.status },
        'Transaction Status did not confirm a paybill payment: not credited, asked again later',
      );
      return { applied: false };
    }
    const kinds: MismatchKind[] = [];
    if ((transaction.receipt ?? '').toUpperCase() !== (payment.transId ?? '').toUpperCase()) kinds.push('receipt');
    if (transaction.amount !== payment.amount) kinds.push('amount');
    if (kinds.length) {
      await this.mismatches.flag(
        payment.id,
        { resultCode: 0, receipt: transaction.receipt ?? null, amount: transaction.amount ?? null, phoneNumber: null },
        kinds,
        'Transaction Status disagrees with a paybill confirmation',
      );
      return { applied: false };
    }
    await this.creditC2b(payment);
    return { applied: true };
  }

  /**
   * A paybill confirmation Transaction Status has not confirmed MPESA_RECONCILE_MAX_AGE_MS after it
   * was recorded (Daraja unreachable, refusing the question, or not knowing the TransID): flagged
   * not_confirmed, with what the confirmation claimed (metric, review list, error log), once. It
   * stays pending and credits nothing; reconciliation stops asking about it: an operator decides.
   */
  async flagUnconfirmedC2b(row: MpesaPayment): Promise<void> {
    let request: C2bRequest | null;
    try {
      request = row.callback ? parseC2bRequest(row.callback) : null;
    } catch {
      request = null; // recorded from a readable body; kept defensive all the same
    }
    await this.mismatches.flag(
      row.id,
      {
        resultCode: 0,
        receipt: row.transId,
        amount: request?.amount ?? row.amount,
        phoneNumber: request?.msisdn ?? null,
        ...(request ? { shortCode: request.shortCode } : {}),
      },
      ['not_confirmed'],
      `Transaction Status has not confirmed this paybill payment in ${duration(Date.now() - row.createdAt.getTime())} (MPESA_RECONCILE_MAX_AGE_MS)`,
    );
  }

  /** Credits a recorded paybill payment (idempotent by TransID) and marks it done. */
  async creditC2b(row: MpesaPayment): Promise<void> {
    if (!canTransition('c2b', row.status, 'paid') || !row.userId) return;
    await this.loans.receiveDeposit({ userId: row.userId, amount: row.amount, reference: `c2b:${row.transId}` });
    await this.transactions.run((tx) => this.payments.finish(tx, row.id, 'c2b', 'paid', 0, 'Credited'));
  }
}
