import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { isUuid } from '../common/ids.js';
import type { AppConfig } from '../config/app-config.js';
import { WalletService } from '../wallet/wallet.service.js';
import { DarajaClient } from './daraja.client.js';
import { parseTransactionStatusResult, type TransactionStatusResult } from './daraja.parsers.js';
import { MpesaPayment } from './mpesa-payment.entity.js';
import { MpesaPaymentsRepository } from './mpesa-payments.repository.js';
import { MpesaCallbackUrls } from './mpesa-callback-urls.js';
import { WithdrawalService } from './withdrawal.service.js';
import {
  B2C_STATUS_NOT_PAID,
  B2C_STATUS_PAID,
  pastMaxAge,
  STATUS_QUERY_IDS_KEPT,
  UNASKED_FLAG_AFTER_MAX_AGES,
} from './mpesa.rules.js';
import { duration, heldForOperator, isAbout, readCallback } from './payment-matching.js';
import { isOpenStatus, OPEN_STATUSES, transition } from './payment-state.js';

/**
 * Transaction Status for withdrawals whose result never came: asking it (by the
 * OriginatorConversationID every send carried), applying its answer through WithdrawalService,
 * flagging what cannot be asked or matched, and the last resort (money kept held for an operator,
 * or given back: MPESA_RECONCILE_LAST_RESORT).
 */
@Injectable()
export class WithdrawalStatusService {
  private readonly logger = new Logger(WithdrawalStatusService.name);
  private readonly settings: AppConfig['mpesa'];

  constructor(
    private readonly daraja: DarajaClient,
    private readonly payments: MpesaPaymentsRepository,
    private readonly urls: MpesaCallbackUrls,
    private readonly withdrawals: WithdrawalService,
    private readonly wallet: WalletService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('mpesa', { infer: true });
  }

  private get table() {
    return this.payments.table;
  }

  /**
   * Daraja's answer to a Transaction Status query about a withdrawal (sent by `reconcile`, to a
   * URL naming the payment). Completed settles the hold; Failed, Cancelled, Declined or Expired
   * releases it; anything else (the query failed, the transaction is unknown or still pending)
   * changes nothing, and the next run asks again. Applied once, like every other result, and
   * only when it is about this withdrawal: matched by the ConversationID of Daraja's B2C
   * acknowledgement (when there was none: by our OriginatorConversationID or by our question's
   * ConversationID), see isAbout. A decisive answer that does not match flags the withdrawal and
   * keeps its money held for an operator (flagUnmatchedAnswer).
   */
  async handleB2cStatusResult(paymentId: string, body: unknown): Promise<{ applied: boolean }> {
    const result = readCallback(parseTransactionStatusResult, body);
    const payment = isUuid(paymentId) ? await this.payments.byId(paymentId) : null;
    const log = { id: paymentId, resultCode: result.resultCode, transactionStatus: result.transaction.status };
    if (!payment || payment.kind !== 'b2c') {
      this.logger.warn(log, 'Transaction Status result for an unknown withdrawal ignored');
      return { applied: false };
    }
    const { transaction } = result;
    const status = transaction.status?.toLowerCase();
    if (result.resultCode !== '0' || !status || (status !== B2C_STATUS_PAID && !B2C_STATUS_NOT_PAID.has(status))) {
      this.logger.warn(
        { ...log, resultDesc: result.resultDesc },
        'Transaction Status gave no verdict on a withdrawal; still held',
      );
      return { applied: false };
    }
    // The answer must be about this withdrawal: a result for another transaction never moves its money.
    if (!isAbout(payment, result)) {
      await this.flagUnmatchedAnswer(payment, result);
      return { applied: false };
    }
    const callback = body as Record<string, unknown>;
    if (status === B2C_STATUS_PAID) {
      return {
        applied: await this.withdrawals.closeB2c(payment.id, true, 0, `Transaction status: ${transaction.status}`, {
          receipt: transaction.receipt ?? null,
          callback,
        }),
      };
    }
    // The status query's ResultCode says the query worked, not why the payment failed: none is recorded.
    return {
      applied: await this.withdrawals.closeB2c(payment.id, false, null, `Transaction status: ${transaction.status}`, {
        callback,
      }),
    };
  }

  /**
   * A decisive answer (Completed, Failed, …) posted to this withdrawal's status URL that cannot be
   * matched to it. It moves no money, but it is not ignored either: it may be M-PESA's real answer
   * in a form Deni does not recognise (a "Completed" dropped, then the money given back, would pay
   * twice). The payment is flagged, its money stays held, and the last resort never releases it
   * (mayGiveUp): an operator resolves it from the M-PESA statement. A matching answer still ends it.
   */
  private async flagUnmatchedAnswer(payment: MpesaPayment, result: TransactionStatusResult): Promise<void> {
    const { transaction } = result;
    const said =
      `Transaction Status said ${transaction.status ?? '?'} about ConversationID ${transaction.conversationId ?? '?'}, ` +
      `OriginatorConversationID ${transaction.originatorConversationId ?? '?'}, amount ${transaction.amount ?? '?'}, ` +
      `receipt ${transaction.receipt ?? '?'} (answering question ${result.conversationId})`;
    const open = isOpenStatus(payment.status);
    await this.table
      .createQueryBuilder()
      .update(MpesaPayment)
      .set({
        needsReview: true,
        unmatchedStatusAnswer: said,
        // An open withdrawal says why it is flagged; a closed one keeps its outcome's description.
        resultDesc: () => `CASE WHEN status IN (:...openStatuses) THEN :unmatchedDesc ELSE result_desc END`,
      })
      .where('id = :id', { id: payment.id })
      .setParameter('openStatuses', OPEN_STATUSES)
      .setParameter(
        'unmatchedDesc',
        `UNMATCHED STATUS ANSWER: ${said}; not matched to this withdrawal, money still held (never given back without an operator): resolve it from the M-PESA statement`,
      )
      .execute();
    this.logger.error(
      {
        id: payment.id,
        status: payment.status,
        open,
        transactionStatus: transaction.status,
        aboutConversationId: transaction.conversationId,
        aboutOriginatorConversationId: transaction.originatorConversationId,
        queryConversationId: result.conversationId,
      },
      'decisive Transaction Status answer not matched to its withdrawal: flagged, money kept held for an operator',
    );
  }

  /** Daraja gave up on a Transaction Status query in its queue: nothing to do, the next run asks again. */
  handleB2cStatusTimeout(paymentId: string, body: unknown): { applied: boolean } {
    const result = readCallback(parseTransactionStatusResult, body);
    this.logger.warn(
      { id: paymentId, resultCode: result.resultCode, resultDesc: result.resultDesc },
      'Transaction Status query timed out at Daraja',
    );
    return { applied: false };
  }

  /**
   * Asks Daraja how a withdrawal ended; the answer comes to handleB2cStatusResult. Counted (and its
   * time kept) only once Daraja accepted the question: the last resort needs one that was.
   */
  private async queryB2cStatus(payment: MpesaPayment): Promise<void> {
    const reply = await this.daraja.transactionStatus({
      originatorConversationId: payment.originatorConversationId!,
      resultUrl: this.urls.callbackUrl(`b2c/status/${payment.id}/result`),
      queueTimeoutUrl: this.urls.callbackUrl(`b2c/status/${payment.id}/timeout`),
      remarks: 'Deni withdrawal status',
    });
    // The question's own ConversationID is kept (the latest STATUS_QUERY_IDS_KEPT): its answer
    // carries it as Result.ConversationID, which matches a withdrawal with none of its own.
    await this.table
      .createQueryBuilder()
      .update(MpesaPayment)
      .set({
        statusQueries: () => 'status_queries + 1',
        statusQueriedAt: () => 'now()',
        statusQueryConversationIds: () =>
          `(array_append(coalesce(status_query_conversation_ids, '{}'::text[]), :queryConversationId))[greatest(1, coalesce(cardinality(status_query_conversation_ids), 0) + 2 - ${STATUS_QUERY_IDS_KEPT}):]`,
      })
      .where('id = :id', { id: payment.id })
      .setParameter('queryConversationId', reply.conversationId)
      .execute();
    this.logger.log(
      { id: payment.id, queryConversationId: reply.conversationId },
      'asked M-PESA for the status of a withdrawal without a result',
    );
  }

  /**
   * Asks Transaction Status about a withdrawal without an outcome. A question Daraja does not take
   * (unreachable, refused) decides nothing: the next run asks again. Still unasked
   * UNASKED_FLAG_AFTER_MAX_AGES × MPESA_RECONCILE_MAX_AGE_MS on, the payment is flagged for an
   * operator with its money still held: given back without any answer, it could be paid twice.
   */
  async askB2cStatus(payment: MpesaPayment): Promise<void> {
    try {
      await this.queryB2cStatus(payment);
    } catch (err) {
      const waited = Date.now() - this.lastResortClock(payment).getTime();
      if (payment.statusQueries === 0 && waited >= UNASKED_FLAG_AFTER_MAX_AGES * this.settings.reconcileMaxAgeMs) {
        await this.flagUnasked(payment, (err as Error).message);
      }
      throw err;
    }
  }

  private async flagUnasked(payment: MpesaPayment, error: string): Promise<void> {
    const age = duration(Date.now() - this.lastResortClock(payment).getTime());
    const what =
      payment.acknowledgedAt === null
        ? `M-PESA never acknowledged the request in ${age}`
        : `no result from M-PESA ${age} after it acknowledged the request`;
    // Once: an operator's review (or an earlier flag) is not repeated every run.
    const flagged = await this.table
      .createQueryBuilder()
      .update(MpesaPayment)
      .set({
        needsReview: true,
        resultDesc: `OUTCOME UNKNOWN: ${what} and Transaction Status could not be asked (${payment.reconcileAttempts} reconciliation attempts; last: ${error}); money still held, an operator decides`,
      })
      .where(`id = :id AND status = 'pending' AND NOT needs_review AND reviewed_at IS NULL`, { id: payment.id })
      .execute();
    if (flagged.affected) {
      this.logger.error(
        { id: payment.id, attempts: payment.reconcileAttempts },
        'B2C outcome unknown and Transaction Status unreachable: money held, needs an operator',
      );
    }
  }

  /**
   * The last resort for a withdrawal still without an outcome MPESA_RECONCILE_MAX_AGE_MS after
   * Daraja acknowledged it (after its request, if never acknowledged), once Transaction Status was
   * asked about it at least once and the answer had MPESA_RECONCILE_AFTER_MS to come (see
   * mayGiveUp). What it does is MPESA_RECONCILE_LAST_RESORT's choice:
   * - `hold` (the default): the money stays held and the withdrawal is flagged for an operator,
   *   who ends it from the M-PESA statement (PaymentReviewService.resolveWithdrawal); M-PESA is
   *   still asked on every run, and its verdict, if one ever comes, ends it as any answer would.
   * - `release`: the money goes back to the wallet and the payment is recorded failed, flagged for
   *   an operator to check against the M-PESA statement. The user is told the money is back and
   *   that a payment M-PESA did make will be corrected. If M-PESA did pay, the user has the money
   *   twice: its late result is caught as paid-after-release. If the ledger had settled it
   *   already, it is finished as paid instead.
   * Returns whether the withdrawal was ended.
   */
  async giveUpB2c(payment: MpesaPayment): Promise<boolean> {
    // An unmatched decisive answer may have come since this run read the payment: looked at again.
    const now = await this.payments.byId(payment.id);
    if (!now || !this.mayGiveUp(now)) return false;
    // Under `hold`, unless the ledger already ended it (a crash between its write and the
    // payment's): then the payment is finished the way the ledger went, as under `release`.
    if (this.settings.lastResort === 'hold' && (await this.wallet.withdrawalOutcome(payment.id)) === null) {
      await this.holdForOperator(now);
      return false;
    }
    const { reconcileAttempts: attempts, statusQueries: queries } = payment;
    const closed = await this.withdrawals.closeB2c(
      payment.id,
      false,
      null,
      `OUTCOME UNKNOWN: ${this.noVerdict(payment)}; hold released, check the M-PESA statement`,
      { needsReview: true, unconfirmed: true },
    );
    const after = await this.payments.byId(payment.id);
    if (closed && after?.status === 'failed') {
      this.logger.error(
        { id: payment.id, attempts, statusQueries: queries, acknowledged: payment.acknowledgedAt !== null },
        'B2C outcome unknown past MPESA_RECONCILE_MAX_AGE_MS: hold released, needs an operator',
      );
    }
    return closed;
  }

  /**
   * The last resort under `hold`: flagged once (needs_review, `OUTCOME UNKNOWN…` saying the money
   * is still held), nothing moved, no SMS (the user's withdrawal is still pending, which is true).
   * Transaction Status is asked again, as on every run until the withdrawal ends: a verdict that
   * comes late still settles or releases it, and spares the operator.
   */
  private async holdForOperator(payment: MpesaPayment): Promise<void> {
    const { reconcileAttempts: attempts, statusQueries: queries } = payment;
    const flagged = await this.table
      .createQueryBuilder()
      .update(MpesaPayment)
      .set({
        needsReview: true,
        resultDesc: `OUTCOME UNKNOWN: ${this.noVerdict(payment)}; money still held (MPESA_RECONCILE_LAST_RESORT=hold), an operator resolves it from the M-PESA statement`,
      })
      .where(`id = :id AND status = 'pending' AND NOT needs_review AND reviewed_at IS NULL`, { id: payment.id })
      .execute();
    if (flagged.affected) {
      this.logger.error(
        { id: payment.id, attempts, statusQueries: queries, acknowledged: payment.acknowledgedAt !== null },
        'B2C outcome unknown past MPESA_RECONCILE_MAX_AGE_MS: money kept held, needs an operator',
      );
    }
    await this.askB2cStatus(payment);
  }

  /** Why the last resort acts, for the payment's result_desc. */
  private noVerdict(payment: MpesaPayment): string {
    const age = duration(Date.now() - this.lastResortClock(payment).getTime());
    const { reconcileAttempts: attempts, statusQueries: queries } = payment;
    return payment.acknowledgedAt === null
      ? `M-PESA never acknowledged the request and Transaction Status gave no verdict in ${age} (${attempts} reconciliation attempts, ${queries} status queries)`
      : `no result from M-PESA ${age} after it acknowledged the request (${queries} status queries, no verdict)`;
  }

  /**
   * Whether the last resort may act on a withdrawal now: past MPESA_RECONCILE_MAX_AGE_MS
   * (from its acknowledgement, or its request if never acknowledged), Transaction Status asked at
   * least once with Daraja accepting the question, and MPESA_RECONCILE_AFTER_MS since the last
   * such question, for its answer to arrive. Never after a decisive answer that could not be
   * matched to it (flagUnmatchedAnswer): M-PESA may have said it paid.
   */
  mayGiveUp(payment: MpesaPayment): boolean {
    return (
      payment.unmatchedStatusAnswer === null &&
      !heldForOperator(payment) &&
      pastMaxAge(this.lastResortClock(payment), this.settings.reconcileMaxAgeMs) &&
      payment.statusQueries > 0 &&
      payment.statusQueriedAt !== null &&
      payment.statusQueriedAt.getTime() <= Date.now() - this.settings.reconcileAfterMs
    );
  }

  /** Where a withdrawal's MPESA_RECONCILE_MAX_AGE_MS counts from: Daraja's acknowledgement, or the request. */
  private lastResortClock(payment: MpesaPayment): Date {
    return payment.acknowledgedAt ?? payment.createdAt;
  }

  /**
   * A withdrawal Daraja never acknowledged, past MPESA_RECONCILE_MAX_AGE_MS: it is not sent again.
   * An earlier send may still have reached M-PESA (a crash or a lost answer), so Transaction Status
   * is asked, by the OriginatorConversationID every send carried. The row becomes pending (nothing
   * re-sends it) so that the answer can settle or release it; from then on it is reconciled like
   * any pending withdrawal (asked until Daraja takes the question, then the last resort).
   */
  async stopResendingB2c(payment: MpesaPayment): Promise<void> {
    const stopped = await this.payments.move(payment.id, 'b2c', 'resend_stopped', {
      resultDesc: `Not acknowledged by M-PESA in ${duration(Date.now() - payment.createdAt.getTime())}: no more re-sends, Transaction Status asked`,
    });
    if (!stopped) return; // another run or a callback got there first
    this.logger.error(
      { id: payment.id, attempts: payment.reconcileAttempts },
      'B2C request never acknowledged past MPESA_RECONCILE_MAX_AGE_MS: asking Transaction Status',
    );
    await this.askB2cStatus({ ...payment, status: transition('b2c', 'resend_stopped').to });
  }
}
