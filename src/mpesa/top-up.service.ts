// Top-ups by STK push: the prompt, its callback (credited only once Daraja's STK query confirms
// it) and the settling that reconciliation also uses.
import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TransactionService } from '../database/transaction.service.js';
import { LoansService } from '../loans/loans.service.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { UsersService } from '../users/users.service.js';
import { DarajaClient } from './daraja.client.js';
import { DarajaError } from './daraja.errors.js';
import { parseStkCallback } from './daraja.parsers.js';
import { MpesaPayment } from './mpesa-payment.entity.js';
import { MpesaPaymentsRepository } from './mpesa-payments.repository.js';
import { CallbackMismatches } from './callback-mismatches.service.js';
import { MpesaCallbackUrls } from './mpesa-callback-urls.js';
import { FINAL_STK_FAILURES, MpesaErrors, STK_SUCCESS, TOP_UP_LIMITS } from './mpesa.rules.js';
import { canTransition, initialStatus } from './payment-state.js';
import {
  agreeingReceipt,
  readCallback,
  sameClaims,
  stkClaims,
  stkRequestMismatches,
  type Claims,
} from './payment-matching.js';

@Injectable()
export class TopUpService {
  private readonly logger = new Logger(TopUpService.name);

  constructor(
    private readonly daraja: DarajaClient,
    private readonly loans: LoansService,
    private readonly users: UsersService,
    private readonly notifications: NotificationsService,
    private readonly transactions: TransactionService,
    private readonly payments: MpesaPaymentsRepository,
    private readonly mismatches: CallbackMismatches,
    private readonly urls: MpesaCallbackUrls,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  private get table() {
    return this.payments.table;
  }

  /**
   * Sends an M-PESA prompt to the user's phone; the callback credits the wallet. A caller's id
   * makes the top-up idempotent: the same id again (a client's retry after a lost answer, or two
   * at once) answers the payment it recorded, in whatever state it is now, and sends no second
   * prompt, even when the first push failed or its answer was lost (a new top-up takes a new id);
   * the same id for another amount or phone is MPESA.TOP_UP_ID_CONFLICT.
   */
  async startTopUp(userId: string, amount: number, options: { id?: string } = {}): Promise<MpesaPayment> {
    if (!Number.isSafeInteger(amount) || amount < TOP_UP_LIMITS.min || amount > TOP_UP_LIMITS.max) {
      throw MpesaErrors.amount(TOP_UP_LIMITS.min, TOP_UP_LIMITS.max);
    }
    const user = await this.users.getById(userId);
    const id = options.id ?? randomUUID();
    // Recorded first, once per id (the first of two at once wins the insert), and only the request
    // that recorded it sends the push.
    const inserted = await this.table
      .createQueryBuilder()
      .insert()
      .into(MpesaPayment)
      .values({
        id,
        kind: 'stk',
        status: initialStatus('stk', 'request'),
        userId,
        phoneNumber: user.phoneNumber,
        amount,
      })
      .orIgnore()
      .returning(['id'])
      .execute();
    if (!(inserted.raw as unknown[]).length) {
      const earlier = await this.table.findOneByOrFail({ id });
      if (
        earlier.userId !== userId ||
        earlier.kind !== 'stk' ||
        earlier.amount !== amount ||
        earlier.phoneNumber !== user.phoneNumber
      ) {
        throw MpesaErrors.topUpIdConflict();
      }
      return earlier;
    }
    const payment = await this.table.findOneByOrFail({ id });
    const request = {
      phoneNumber: user.phoneNumber,
      amount,
      // ≤ 12 characters, shown to the payer: the wallet it goes to.
      accountReference: user.phoneNumber.slice(-12),
      description: 'Deni top up',
      callbackUrl: this.urls.callbackUrl('stk'),
    };
    const recorded = { ...request, callbackUrl: '[callback]' };
    let reply;
    try {
      reply = await this.daraja.stkPush(request);
    } catch (err) {
      // An STK push is never retried. Refused: failed. No answer (outcomeUnknown): a prompt may be
      // on the phone, so the row stays requested; if the customer pays, the callback (which names
      // no request we know) is kept as unmatched for an operator, never dropped.
      const unknown = err instanceof DarajaError && err.outcomeUnknown;
      const said = { resultDesc: (err as Error).message, request: recorded };
      if (unknown) await this.table.update({ id: payment.id }, said);
      else await this.payments.move(payment.id, 'stk', 'refused', { ...said, completedAt: new Date() });
      throw err;
    }
    await this.payments.move(payment.id, 'stk', 'accepted', {
      merchantRequestId: reply.merchantRequestId,
      checkoutRequestId: reply.checkoutRequestId,
      request: recorded,
      response: { ...reply },
    });
    return this.payments.byIdOrFail(payment.id);
  }

  /** Daraja's STK callback: credit once on success, tell the user on failure. Duplicates are no-ops. */
  async handleStkCallback(body: unknown): Promise<{ applied: boolean }> {
    const result = readCallback(parseStkCallback, body);
    const payment = await this.payments.byCheckoutRequestId(result.checkoutRequestId);
    if (!payment) {
      if (result.resultCode === STK_SUCCESS) {
        // Money was taken for a push we have no record of (its request never got an answer):
        // kept for an operator, with what Daraja says about it.
        this.logger.error(
          { checkoutRequestId: result.checkoutRequestId },
          'paid STK callback for an unknown request: kept as unmatched',
        );
        await this.dataSource.query(
          `INSERT INTO mpesa_payments (id, kind, status, phone_number, amount, merchant_request_id, checkout_request_id, receipt, result_code, result_desc, callback, completed_at, needs_review)
           VALUES ($1, 'stk', $2, $3, $4, $5, $6, $7, 0, $8, $9::jsonb, now(), true)
           ON CONFLICT (checkout_request_id) WHERE checkout_request_id IS NOT NULL DO NOTHING`,
          [
            randomUUID(),
            initialStatus('stk', 'unrecognised'),
            (result.phoneNumber ?? 'unknown').slice(0, 32),
            result.amount ?? 1,
            result.merchantRequestId,
            result.checkoutRequestId,
            result.receipt ?? null,
            result.resultDesc,
            JSON.stringify(body),
          ],
        );
      } else {
        this.logger.warn(
          { checkoutRequestId: result.checkoutRequestId },
          'STK callback for an unknown request ignored',
        );
      }
      return { applied: false };
    }
    // A repeat of a paid callback kept as unmatched: it stays with the operator.
    if (payment.status === 'unmatched' || !payment.userId) return { applied: false };
    const claims: Claims = {
      resultCode: result.resultCode,
      receipt: result.receipt ?? null,
      amount: result.amount ?? null,
      phoneNumber: result.phoneNumber ?? null,
    };
    const recorded = await this.recordStkCallback(payment.id, claims, body as Record<string, unknown>);
    if (result.resultCode !== STK_SUCCESS) {
      // No money moves on a failure: a pending push ends failed, anything else was recorded above.
      if (recorded.duplicate) return { applied: false };
      return this.settleStk(recorded.payment, result.resultCode, result.resultDesc);
    }
    if (recorded.payment.status === 'succeeded') return { applied: false };
    // A callback's word moves no money: Daraja's STK Push Query must say it was paid. Its answer
    // is only a result code, so what is credited is the amount Deni asked for.
    let answer;
    try {
      answer = await this.daraja.stkQuery(payment.checkoutRequestId!);
    } catch (err) {
      this.logger.warn(
        { id: payment.id, err: (err as Error).message },
        'STK query failed after a paid callback: reconciliation asks again, nothing credited yet',
      );
      return { applied: false };
    }
    if (answer.state === 'pending') return { applied: false }; // reconciliation asks again
    if (answer.resultCode === STK_SUCCESS) return this.settleStk(recorded.payment, STK_SUCCESS, answer.resultDesc);
    // M-PESA says it was not paid: the callback's claim is flagged, and nothing is credited.
    await this.mismatches.flag(payment.id, claims, ['not_confirmed'], `STK query said ${answer.resultCode}`);
    if (!FINAL_STK_FAILURES.has(answer.resultCode)) return { applied: false };
    return this.settleStk(await this.payments.byIdOrFail(payment.id), answer.resultCode, answer.resultDesc);
  }

  /**
   * Records an STK callback against its payment, under the payment's row lock: the first one's raw
   * body is kept in `callback`; one whose amount or phone differ from the request, or that claims
   * another receipt or outcome than an earlier callback (or a failure of a payment already
   * credited), is added to callback_mismatches and flags the payment. The same callback again
   * (same outcome and receipt) is a duplicate and records nothing.
   */
  private async recordStkCallback(
    id: string,
    claims: Claims,
    body: Record<string, unknown>,
  ): Promise<{ duplicate: boolean; payment: MpesaPayment }> {
    const { duplicate, kinds } = await this.transactions.run(async (tx) => {
      const row = await this.payments.lock(tx, id);
      const first = row.callback ? stkClaims(row.callback) : null;
      const earlier = [...(first ? [first] : []), ...(row.callbackMismatches ?? [])];
      if (earlier.some((e) => sameClaims(e, claims))) return { duplicate: true, kinds: [] };
      const kinds = stkRequestMismatches(row, claims);
      const paid = claims.resultCode === STK_SUCCESS;
      if (earlier.some((e) => (e.resultCode === STK_SUCCESS) !== paid) || (!paid && row.status === 'succeeded'))
        kinds.push('outcome');
      if (paid && earlier.some((e) => e.resultCode === STK_SUCCESS && e.receipt !== claims.receipt))
        kinds.push('receipt');
      if (!row.callback)
        // (TypeORM's deep-partial type does not take a plain JSON object; the driver stores it as jsonb.)
        await tx.manager.update(MpesaPayment, { id }, { callback: body as never });
      if (kinds.length) await this.mismatches.append(tx, row, claims, kinds);
      return { duplicate: false, kinds };
    });
    if (kinds.length) this.mismatches.alert(id, claims, kinds);
    return { duplicate, payment: await this.payments.byIdOrFail(id) };
  }

  /**
   * Ends a top-up as Daraja said. Paid (only ever on Daraja's STK query: see handleStkCallback and
   * reconcile): the amount Deni asked for is credited, once by its reference, even if an earlier
   * answer said it failed (money taken is money owed); the receipt is the first agreeing callback's
   * (agreeingReceipt), filled in later if that callback comes after the credit. Not paid: a
   * pending push ends failed and the user is told.
   */
  async settleStk(payment: MpesaPayment, resultCode: number, resultDesc: string): Promise<{ applied: boolean }> {
    if (resultCode === STK_SUCCESS) {
      if (payment.status !== 'succeeded')
        await this.loans.receiveDeposit({
          userId: payment.userId!,
          amount: payment.amount,
          reference: `stk:${payment.checkoutRequestId}`,
        });
      return this.transactions.run(async (tx) => {
        const row = await this.payments.lock(tx, payment.id);
        const receipt = row.receipt ?? agreeingReceipt(row);
        if (row.status === 'succeeded') {
          if (receipt !== row.receipt) await tx.manager.update(MpesaPayment, { id: row.id }, { receipt });
          return { applied: false };
        }
        return {
          applied: await this.payments.finish(tx, row.id, 'stk', 'paid', resultCode, resultDesc, { receipt }),
        };
      });
    }
    if (!canTransition('stk', payment.status, 'failed')) return { applied: false };
    return this.transactions.run(async (tx) => {
      const done = await this.payments.finish(tx, payment.id, 'stk', 'failed', resultCode, resultDesc);
      if (done) {
        const user = await this.users.getById(payment.userId!, tx.manager);
        await this.notifications.notify(tx, {
          phoneNumber: user.phoneNumber,
          language: user.language,
          template: 'mpesa.topup_failed',
          params: { amount: payment.amount, code: resultCode },
        });
      }
      return { applied: done };
    });
  }
}
