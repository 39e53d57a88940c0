import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/app-config.js';
import { DarajaClient } from './daraja.client.js';
import { MpesaPaymentsRepository } from './mpesa-payments.repository.js';
import { TopUpService } from './top-up.service.js';
import { PaybillService } from './paybill.service.js';
import { WithdrawalService } from './withdrawal.service.js';
import { WithdrawalStatusService } from './withdrawal-status.service.js';
import { FINAL_STK_FAILURES, pastMaxAge, STK_SUCCESS } from './mpesa.rules.js';
import { heldForOperator } from './payment-matching.js';

/**
 * What M-PESA does when a callback never came: `reconcile` picks stale payments and hands each to
 * its flow (top-ups, paybill, withdrawals and their Transaction Status).
 */
@Injectable()
export class ReconciliationService {
  private readonly logger = new Logger(ReconciliationService.name);
  private readonly settings: AppConfig['mpesa'];

  constructor(
    private readonly daraja: DarajaClient,
    private readonly payments: MpesaPaymentsRepository,
    private readonly topUps: TopUpService,
    private readonly paybill: PaybillService,
    private readonly withdrawals: WithdrawalService,
    private readonly withdrawalStatus: WithdrawalStatusService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('mpesa', { infer: true });
  }

  /**
   * For callbacks that never came: STK pushes pending past MPESA_RECONCILE_AFTER_MS are queried and
   * settled from the answer; B2C requests Daraja never acknowledged are sent again with the same
   * OriginatorConversationID (one payment), until MPESA_RECONCILE_MAX_AGE_MS after the request:
   * then Transaction Status is asked instead. For a B2C request Daraja acknowledged (or may have
   * received) whose result and timeout never came, Daraja's Transaction Status is asked, and its
   * answer settles or releases the hold. The last resort (giveUpB2c, see mayGiveUp) flags it for an
   * operator, keeping the money held or giving it back (MPESA_RECONCILE_LAST_RESORT), only past
   * MPESA_RECONCILE_MAX_AGE_MS from the acknowledgement, after a status question Daraja accepted and
   * MPESA_RECONCILE_AFTER_MS for its answer. Each
   * payment is looked at at most once per MPESA_RECONCILE_AFTER_MS (counting an attempt moves its
   * updated_at), least recently looked at first, so that many stuck withdrawals never starve newer
   * top-ups and paybill payments of the run's `limit`.
   */
  async reconcile(limit = 100): Promise<{ queried: number; settled: number }> {
    const before = new Date(Date.now() - this.settings.reconcileAfterMs);
    const stale = await this.payments.stale(before, limit);
    let settled = 0;
    for (const payment of stale) {
      try {
        await this.payments.countAttempt(payment.id);
        if (payment.kind === 'stk') {
          if (!payment.checkoutRequestId) continue;
          const answer = await this.daraja.stkQuery(payment.checkoutRequestId);
          if (answer.state === 'pending') continue; // the customer has not answered yet
          // Only codes known to be final: anything else may still turn into a payment.
          if (answer.resultCode !== STK_SUCCESS && !FINAL_STK_FAILURES.has(answer.resultCode)) continue;
          const outcome = await this.topUps.settleStk(payment, answer.resultCode, answer.resultDesc);
          if (outcome.applied) settled += 1;
        } else if (payment.kind === 'c2b') {
          if (this.settings.c2bVerify) {
            // Not credited before Transaction Status confirms it; a flagged one waits for an operator.
            if (payment.needsReview) continue;
            // Never confirmed in MPESA_RECONCILE_MAX_AGE_MS: an operator looks, nothing credited.
            if (pastMaxAge(payment.createdAt, this.settings.reconcileMaxAgeMs))
              await this.paybill.flagUnconfirmedC2b(payment);
            else await this.paybill.askC2bStatus(payment);
            continue;
          }
          await this.paybill.creditC2b(payment);
          settled += 1;
        } else if (heldForOperator(payment)) {
          // A result disagreed with the request: an operator resolves it, nothing else.
          continue;
        } else if (payment.status === 'requested') {
          if (!pastMaxAge(payment.createdAt, this.settings.reconcileMaxAgeMs))
            await this.withdrawals.sendB2c(payment.id);
          else await this.withdrawalStatus.stopResendingB2c(payment);
        } else if (this.withdrawalStatus.mayGiveUp(payment)) {
          if (await this.withdrawalStatus.giveUpB2c(payment)) settled += 1;
        } else {
          await this.withdrawalStatus.askB2cStatus(payment);
        }
      } catch (err) {
        // Still processing, or Daraja unreachable: the next run asks again.
        this.logger.warn(
          { id: payment.id, kind: payment.kind, err: (err as Error).message },
          'reconciliation did not settle a payment',
        );
      }
    }
    return { queried: stale.length, settled };
  }
}
