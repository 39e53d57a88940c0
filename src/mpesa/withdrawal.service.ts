// Size: over 400 lines, for now. A withdrawal is one flow from the hold to the user's SMS, with
// every way its outcome can arrive (result, queue timeout, Transaction Status, the last resort, an
// operator's resolution before it) checked here against the ledger and the row: split further only
// along a seam that keeps closeB2c whole.
import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DomainError, isDomainError } from '../common/domain-error.js';
import type { AppConfig } from '../config/app-config.js';
import { TransactionService, type Tx } from '../database/transaction.service.js';
import { NotificationsService, type NotifyInput } from '../notifications/notifications.service.js';
import type { TemplateName } from '../notifications/templates.js';
import { SubscriberChanges } from '../users/subscriber-changes.js';
import { UsersService } from '../users/users.service.js';
import { WalletService } from '../wallet/wallet.service.js';
import { DarajaClient } from './daraja.client.js';
import { DARAJA_DUPLICATE_ORIGINATOR, DarajaError } from './daraja.errors.js';
import { parseB2cResult } from './daraja.parsers.js';
import { MpesaPayment } from './mpesa-payment.entity.js';
import { MpesaPaymentsRepository, type FinishExtra } from './mpesa-payments.repository.js';
import { CallbackMismatches } from './callback-mismatches.service.js';
import { MpesaCallbackUrls } from './mpesa-callback-urls.js';
import {
  B2C_RESULT_PAID,
  CONTRADICTED,
  MpesaErrors,
  OPERATOR_RESOLVED,
  PAID_AFTER_RELEASE,
  pastMaxAge,
  WITHDRAWAL_LIMITS,
} from './mpesa.rules.js';
import {
  b2cClaims,
  b2cRequestMismatches,
  heldForOperator,
  isOpen,
  readCallback,
  resolvedBy,
  sameB2cClaims,
  type Claims,
} from './payment-matching.js';
import { initialStatus } from './payment-state.js';

/** What closing a withdrawal may carry besides its outcome. */
export interface CloseExtra extends FinishExtra {
  /**
   * Released without knowing whether M-PESA paid (the last resort): the user is told the money is
   * back and will be corrected if M-PESA did pay, not that the withdrawal failed.
   */
  unconfirmed?: boolean;
  /** Tell the user nothing (there is nothing true and useful to say). */
  silent?: boolean;
}

/**
 * Withdrawals by B2C: the amount is held with the request, Daraja is asked to pay, and its result
 * (or queue timeout, or a Transaction Status answer, or the last resort) settles or releases the
 * hold once, by the ledger's key, then tells the user once, by the row's state change.
 */
@Injectable()
export class WithdrawalService {
  private readonly logger = new Logger(WithdrawalService.name);
  private readonly settings: AppConfig['mpesa'];

  constructor(
    private readonly daraja: DarajaClient,
    private readonly wallet: WalletService,
    private readonly users: UsersService,
    private readonly notifications: NotificationsService,
    private readonly transactions: TransactionService,
    private readonly changes: SubscriberChanges,
    private readonly payments: MpesaPaymentsRepository,
    private readonly mismatches: CallbackMismatches,
    private readonly urls: MpesaCallbackUrls,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('mpesa', { infer: true });
  }

  private get table() {
    return this.payments.table;
  }

  // ----------------------------------------------------------------------------- withdraw (B2C)

  /**
   * Pays wallet money out to the user's M-PESA: the amount is held first (so it cannot be spent
   * twice), then B2C is asked; its result settles or releases the hold, once. The caller has
   * checked the PIN.
   */
  async withdraw(userId: string, amount: number, options: { id?: string } = {}): Promise<MpesaPayment> {
    if (!Number.isSafeInteger(amount) || amount < WITHDRAWAL_LIMITS.min || amount > WITHDRAWAL_LIMITS.max) {
      throw MpesaErrors.amount(WITHDRAWAL_LIMITS.min, WITHDRAWAL_LIMITS.max);
    }
    // A caller's id makes the withdrawal idempotent (a USSD step's key: the step retried, or
    // finished from the offline queue, is the same withdrawal).
    const id = options.id ?? randomUUID();
    const earlier = await this.payments.byId(id);
    if (earlier) {
      if (earlier.userId !== userId || earlier.kind !== 'b2c' || earlier.amount !== amount) {
        throw new DomainError(
          'MPESA.WITHDRAWAL_ID_CONFLICT',
          'conflict',
          'This withdrawal id was used for another withdrawal',
        );
      }
      // Its hold is committed, but the first attempt may have stopped before the read models
      // heard of it (a crash, a timeout): told again, as the first attempt would have.
      if (isOpen(earlier)) await this.changes.changed([userId]);
      if (earlier.status !== 'requested') return earlier;
    } else {
      const user = await this.users.getById(userId);
      // The request and its hold commit together: never held money without a request, never a
      // request without its money (WALLET.INSUFFICIENT_FUNDS leaves neither).
      await this.transactions.run(async (tx) => {
        await tx.manager
          .createQueryBuilder()
          .insert()
          .into(MpesaPayment)
          .values({
            id,
            kind: 'b2c',
            status: initialStatus('b2c', 'request'),
            userId,
            phoneNumber: user.phoneNumber,
            amount,
            originatorConversationId: id,
          })
          .orIgnore()
          .execute();
        await this.wallet.holdWithdrawal({ userId, amount, withdrawalId: id }, tx);
      });
      // The money held has left the balance the subscriber sees (and offline withdrawals are
      // checked against): their read models first, then M-PESA.
      await this.changes.changed([userId]);
    }
    await this.sendB2c(id);
    return this.payments.byIdOrFail(id);
  }

  /** Asks Daraja to pay (again, for reconciliation: the OriginatorConversationID makes it one payment). */
  async sendB2c(id: string): Promise<void> {
    const payment = await this.payments.byIdOrFail(id);
    // Only a request Daraja has not acknowledged is (re)sent, and never past the maximum age:
    // reconciliation then asks Transaction Status instead, or gives the money back.
    if (payment.status !== 'requested') return;
    if (pastMaxAge(payment.createdAt, this.settings.reconcileMaxAgeMs)) {
      this.logger.warn({ id }, 'B2C request past MPESA_RECONCILE_MAX_AGE_MS not sent again; reconciliation ends it');
      return;
    }
    if (!(await this.wallet.isWithdrawalHeld(id))) {
      // Cannot happen (they commit together), and must not: never pay what is not held.
      this.logger.error({ id }, 'B2C request without a hold: not sent');
      return;
    }
    const request = {
      // Set once, when the withdrawal is recorded (its id): every send of it carries the same one,
      // so Daraja makes one payment of them (a repeat is refused as 500.002.1001, handled below).
      originatorConversationId: payment.originatorConversationId!,
      amount: payment.amount,
      phoneNumber: payment.phoneNumber,
      remarks: 'Deni withdrawal',
      resultUrl: this.urls.callbackUrl('b2c/result'),
      queueTimeoutUrl: this.urls.callbackUrl('b2c/timeout'),
    };
    try {
      const reply = await this.daraja.b2c(request);
      await this.payments.move(id, 'b2c', 'acknowledged', {
        conversationId: reply.conversationId,
        acknowledgedAt: () => 'now()',
        request: { ...request, resultUrl: '[callback]', queueTimeoutUrl: '[callback]' },
        response: { ...reply },
      });
    } catch (err) {
      if (err instanceof DarajaError && err.errorCode === DARAJA_DUPLICATE_ORIGINATOR) {
        // Daraja has it already: the result will come (or be reconciled). Acknowledged, in effect.
        await this.payments.move(id, 'b2c', 'acknowledged_as_duplicate', { acknowledgedAt: () => 'now()' });
        return;
      }
      if (err instanceof DarajaError && !err.retryable && !err.outcomeUnknown) {
        // Refused outright: nothing will be paid, so the money goes back now.
        await this.closeB2c(id, false, -1, err.message);
        return;
      }
      if (err instanceof DarajaError && err.outcomeUnknown) {
        // It may have reached Daraja: asking again could pay twice unless Daraja refuses the
        // repeated OriginatorConversationID, which Deni does not rely on. Held, for its result or
        // an operator.
        await this.payments.move(id, 'b2c', 'outcome_unknown', { resultDesc: `Outcome unknown: ${err.message}` });
        this.logger.error({ id }, 'B2C request outcome unknown: money held until its result or an operator');
        return;
      }
      // Never reached Daraja (connection refused and the like): reconciliation sends it again.
      this.logger.warn({ id, err: (err as Error).message }, 'B2C request not sent; reconciliation will retry');
    }
  }

  async handleB2cResult(body: unknown): Promise<{ applied: boolean }> {
    const result = readCallback(parseB2cResult, body);
    const payment = await this.payments.byOriginatorConversationId(result.originatorConversationId);
    if (!payment || payment.kind !== 'b2c') {
      this.logger.warn(
        { originatorConversationId: result.originatorConversationId },
        'B2C result for an unknown request ignored',
      );
      return { applied: false };
    }
    const claims = b2cClaims(result);
    const close = () =>
      this.closeB2c(payment.id, result.resultCode === B2C_RESULT_PAID, result.resultCode, result.resultDesc, {
        receipt: result.receipt ?? result.transactionId ?? null,
        callback: body as Record<string, unknown>,
      });
    return { applied: await this.checkB2cResult(payment.id, claims, body as Record<string, unknown>, close) };
  }

  /**
   * A B2C result (or timeout) checked against its request and the results before it, under the
   * payment's row lock, before it may end the withdrawal (`close`). A success whose amount or
   * receiver differ from the request, or a result claiming another outcome, or (paid) another
   * receipt, than an earlier result or the outcome recorded, is added to callback_mismatches and
   * flags the payment (metric, error log). On a withdrawal still open, a flagged result ends
   * nothing, and nothing ends it after that (heldForOperator): the money stays held until an
   * operator resolves it from the M-PESA statement. A closed one goes on as before (a success
   * after a release is flagged paid-after-release; nothing moves). The same result again is a
   * duplicate and records nothing. A result that lost a race to another answer is checked
   * against the outcome that answer recorded.
   */
  private async checkB2cResult(
    id: string,
    claims: Claims,
    body: Record<string, unknown>,
    close: () => Promise<boolean>,
  ): Promise<boolean> {
    const seen = await this.recordB2cResult(id, claims, body);
    if (!seen.apply) return false;
    const applied = await close();
    if (!applied && seen.wasOpen) await this.recordB2cResult(id, claims, body);
    return applied;
  }

  private async recordB2cResult(
    id: string,
    claims: Claims,
    body: Record<string, unknown>,
  ): Promise<{ apply: boolean; wasOpen: boolean }> {
    const paid = claims.resultCode === B2C_RESULT_PAID;
    const seen = await this.transactions.run(async (tx) => {
      const row = await this.payments.lock(tx, id);
      const open = isOpen(row);
      const flagged = row.callbackMismatches ?? [];
      if (flagged.some((m) => sameB2cClaims(m, claims))) return { apply: false, wasOpen: open, kinds: [], held: false };
      // What was said before: the recorded outcome (once closed), and every flagged result.
      const earlier = [
        ...(open
          ? []
          : [{ paid: row.status === 'succeeded', receipt: row.status === 'succeeded' ? row.receipt : null }]),
        ...flagged.map((m) => ({ paid: m.resultCode === B2C_RESULT_PAID, receipt: m.receipt })),
      ];
      const kinds = b2cRequestMismatches(row, claims);
      if (earlier.some((e) => e.paid !== paid)) kinds.push('outcome');
      if (
        paid &&
        claims.receipt &&
        earlier.some((e) => e.paid && e.receipt && e.receipt.toUpperCase() !== claims.receipt!.toUpperCase())
      )
        kinds.push('receipt');
      if (kinds.length) {
        await this.mismatches.append(tx, row, claims, kinds, sameB2cClaims);
        if (open) {
          // The result shows Daraja took the request; the money stays held for an operator.
          await this.payments.move(
            id,
            'b2c',
            'result_disagrees',
            {
              resultDesc: `RESULT DISAGREES (${kinds.join(', ')}): money still held, resolve it from the M-PESA statement`,
              ...(row.callback ? {} : { callback: body as never }),
            },
            tx,
          );
        }
      }
      // Open and flagged (now or before): nothing ends it but an operator.
      const held = open && (kinds.length > 0 || flagged.length > 0);
      return { apply: !held, wasOpen: open, kinds, held };
    });
    if (seen.kinds.length) this.mismatches.alert(id, claims, seen.kinds, 'B2C result');
    else if (seen.held)
      this.logger.warn(
        { id, claimedResultCode: claims.resultCode, claimedReceipt: claims.receipt },
        'B2C result for a withdrawal held for an operator: recorded nowhere new, money still held',
      );
    return { apply: seen.apply, wasOpen: seen.wasOpen };
  }

  /** Daraja gave up on the request in its queue: nothing was paid, the money goes back. */
  async handleB2cTimeout(body: unknown): Promise<{ applied: boolean }> {
    const result = readCallback(parseB2cResult, body);
    const payment = await this.payments.byOriginatorConversationId(result.originatorConversationId);
    if (!payment || payment.kind !== 'b2c') return { applied: false };
    const close = () =>
      this.closeB2c(payment.id, false, result.resultCode, `Queue timeout: ${result.resultDesc}`, {
        callback: body as Record<string, unknown>,
      });
    return {
      applied: await this.checkB2cResult(payment.id, b2cClaims(result, true), body as Record<string, unknown>, close),
    };
  }

  /** Settles (paid) or releases (not paid) a withdrawal's hold, once; tells the user. */
  async closeB2c(
    id: string,
    paid: boolean,
    resultCode: number | null,
    resultDesc: string,
    extra: CloseExtra = {},
  ): Promise<boolean> {
    const payment = await this.payments.byIdOrFail(id);
    if (heldForOperator(payment)) {
      // A B2C result disagreed with the request: no answer, and not the last resort, ends it.
      this.logger.warn({ id, paid, resultDesc }, 'withdrawal held for an operator (a result disagreed): not ended');
      return false;
    }
    if (paid && payment.status === 'failed') {
      await this.paidAfterRelease(id, resultCode, extra.receipt, resolvedBy(payment));
      return false;
    }
    if (payment.status === 'succeeded' || payment.status === 'failed') {
      // A repeat, or an answer after an operator's resolution: checked against it, never applied.
      await this.checkAgainstOperator(payment, paid, resultDesc, extra.receipt, extra.unconfirmed);
      return false;
    }
    // The ledger makes the outcome single: settle and release share one key.
    try {
      if (paid) await this.wallet.settleWithdrawal(id);
      else await this.wallet.releaseWithdrawal(id);
    } catch (err) {
      if (!isDomainError(err, 'WITHDRAWAL.ALREADY_CLOSED')) throw err;
      // Closed meanwhile (another answer, or an operator's resolution, which commits its row with
      // the ledger): judged like any answer to a closed payment.
      const now = await this.payments.byIdOrFail(id);
      if (now.status === 'succeeded' || now.status === 'failed')
        return this.closeB2c(id, paid, resultCode, resultDesc, extra);
      const closed = await this.closeAsLedgerSays(payment, paid, resultCode, resultDesc, extra, err);
      await this.changes.changed([payment.userId!]);
      return closed;
    }
    const done = await this.finishB2c(payment, paid, resultCode, resultDesc, extra);
    // Settled or released (by M-PESA's answer or the last resort): the subscriber's balance and
    // withdrawal changed. After the commit; a read model failing never fails this.
    await this.changes.changed([payment.userId!]);
    if (!done) {
      // A success whose payment a contradicting answer finished first brings the receipt it lacks.
      if (paid && extra.receipt) await this.receiptArrived(payment, extra.receipt);
      await this.checkAgainstOperator(
        await this.payments.byIdOrFail(id),
        paid,
        resultDesc,
        extra.receipt,
        extra.unconfirmed,
      );
    }
    return done;
  }

  /**
   * The paid answer whose settle the ledger holds, arriving after a contradicting answer finished
   * the row as the ledger said (closeAsLedgerSays: paid, but with no receipt and no SMS): the
   * receipt is recorded and the user told, once.
   */
  private async receiptArrived(payment: MpesaPayment, receipt: string): Promise<void> {
    await this.transactions.run(async (tx) => {
      if (await this.payments.addMissingReceipt(tx, payment.id, receipt)) await this.tellSent(tx, payment, receipt);
    });
  }

  private tellSent(tx: Tx, payment: MpesaPayment, receipt: string): Promise<unknown> {
    return this.tell(tx, payment, { template: 'mpesa.withdrawal_sent', params: { amount: payment.amount, receipt } });
  }

  /** An SMS to the withdrawal's user, in their language, committed with `tx`. */
  private async tell<T extends TemplateName>(
    tx: Tx,
    payment: MpesaPayment,
    message: Pick<NotifyInput<T>, 'template' | 'params'>,
  ): Promise<unknown> {
    const user = await this.users.getById(payment.userId!, tx.manager);
    return this.notifications.notify(tx, { phoneNumber: user.phoneNumber, language: user.language, ...message });
  }

  /**
   * An answer from M-PESA about a withdrawal an operator already resolved: the same outcome is a
   * duplicate; another outcome (or, for paid, another receipt) means the operator's reading of the
   * statement and M-PESA disagree, and the payment is flagged again, once, saying so. Money never
   * moves here: the ledger holds the operator's outcome. (Paid after a not_paid resolution is
   * paidAfterRelease.) The last resort's own release (unconfirmed) is no word from M-PESA and
   * contradicts nothing, as in closeAsLedgerSays.
   */
  private async checkAgainstOperator(
    payment: MpesaPayment,
    paid: boolean,
    resultDesc: string,
    receipt: string | null | undefined,
    unconfirmed = false,
  ): Promise<void> {
    if (unconfirmed) return;
    const operator = resolvedBy(payment);
    if (operator === null || payment.status !== 'succeeded') return;
    const why = !paid
      ? `M-PESA then said it did not pay (${resultDesc}); the hold was settled as paid on ${operator}'s word, the user may not have the money`
      : receipt && payment.receipt && receipt.toUpperCase() !== payment.receipt.toUpperCase()
        ? `M-PESA then gave receipt ${receipt}, not ${payment.receipt} as ${operator} recorded`
        : null;
    if (why === null) return;
    const flagged = await this.table
      .createQueryBuilder()
      .update(MpesaPayment)
      .set({ needsReview: true, resultDesc: () => `result_desc || :contradiction` })
      .where(`id = :id AND result_desc NOT LIKE :already`, { id: payment.id, already: `%${CONTRADICTED}%` })
      .setParameter('contradiction', `; ${CONTRADICTED}: ${why}; needs an operator`)
      .execute();
    if (flagged.affected)
      this.logger.error(
        { id: payment.id, resolvedBy: operator, resultDesc, receipt },
        "M-PESA contradicts an operator's resolution of a withdrawal: needs an operator",
      );
  }

  /**
   * The ledger already holds the other outcome of a withdrawal whose row is still open: another
   * delivery is finishing it right now, or its finish never committed (a crash between the two).
   * The row is finished the way the ledger went, so it never stays pending for ever: released
   * there but paid by M-PESA is paid-after-release; settled there (M-PESA said paid) is paid.
   */
  private async closeAsLedgerSays(
    payment: MpesaPayment,
    paid: boolean,
    resultCode: number | null,
    resultDesc: string,
    extra: CloseExtra,
    refused: unknown,
  ): Promise<boolean> {
    const outcome = await this.wallet.withdrawalOutcome(payment.id);
    if (!outcome) throw refused;
    const settledThere = outcome === 'settled';
    if (settledThere === paid) return this.finishB2c(payment, paid, resultCode, resultDesc, extra);
    if (paid) {
      // E.g. a late success racing the last-resort release: the user has the money twice.
      await this.paidAfterRelease(payment.id, resultCode, extra.receipt);
      return this.finishB2c(payment, false, null, `${PAID_AFTER_RELEASE}: needs an operator`, {
        ...extra,
        needsReview: true,
        unconfirmed: true,
      });
    }
    // M-PESA's success was settled, its row never updated; this release changed nothing. An actual
    // "not paid" after a "paid" contradicts it, and is flagged; the last resort's "unknown" does not.
    const contradicted = !extra.unconfirmed;
    this.logger.warn(
      { id: payment.id, wanted: resultDesc, contradicted },
      'B2C already settled in the ledger: its payment finished as paid',
    );
    return this.finishB2c(
      payment,
      true,
      null,
      `Paid: settled in the ledger before this payment was updated${contradicted ? `; then M-PESA said: ${resultDesc}` : ''}`,
      // No receipt is known here (it was in the update that never committed): no "Ref" SMS to send.
      { callback: extra.callback, needsReview: contradicted, silent: payment.receipt === null },
    );
  }

  /** Records a withdrawal's outcome once the ledger holds it, and tells the user (once: the row's state change). */
  private finishB2c(
    payment: MpesaPayment,
    paid: boolean,
    resultCode: number | null,
    resultDesc: string,
    extra: CloseExtra,
  ): Promise<boolean> {
    const id = payment.id;
    return this.transactions.run(async (tx) => {
      const done = await this.payments.finish(tx, id, 'b2c', paid ? 'paid' : 'released', resultCode, resultDesc, extra);
      if (done && !extra.silent) {
        if (paid) await this.tellSent(tx, payment, extra.receipt ?? payment.receipt ?? '');
        else
          await this.tell(tx, payment, {
            template: extra.unconfirmed ? 'mpesa.withdrawal_unconfirmed' : 'mpesa.withdrawal_failed',
            params: { amount: payment.amount },
          });
      }
      return done;
    });
  }

  /**
   * M-PESA paid a withdrawal whose money was given back (a queue timeout or the last-resort
   * release, then a late success): the user has it twice. Never settled automatically; flagged
   * loudly for an operator, with M-PESA's receipt, and the description stays (finish keeps it).
   */
  private async paidAfterRelease(
    id: string,
    resultCode: number | null,
    receipt: string | null | undefined,
    operator: string | null = null,
  ): Promise<void> {
    this.logger.error(
      { id, resultCode, receipt, resolvedBy: operator },
      'B2C paid after its hold was released: needs an operator',
    );
    const after = operator === null ? '' : `, after it was ${OPERATOR_RESOLVED} (${operator}) as not paid`;
    await this.table.update(
      { id },
      {
        resultDesc: `${PAID_AFTER_RELEASE} (receipt ${receipt ?? '?'})${after}: needs an operator`,
        needsReview: true,
        ...(receipt ? { receipt } : {}),
      },
    );
  }
}
