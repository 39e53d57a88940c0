// A callback that disagrees with its request, with Daraja or with an earlier callback: recorded on
// its payment (callback_mismatches), the payment flagged for an operator, and an alert raised. The
// same for top-ups, paybill payments and withdrawals.
import { Injectable, Logger } from '@nestjs/common';
import { TransactionService, type Tx } from '../database/transaction.service.js';
import { MpesaPayment, type MismatchKind } from './mpesa-payment.entity.js';
import { MpesaMetrics } from './mpesa.metrics.js';
import { MpesaPaymentsRepository } from './mpesa-payments.repository.js';
import { sameClaims, type Claims } from './payment-matching.js';

@Injectable()
export class CallbackMismatches {
  private readonly logger = new Logger(CallbackMismatches.name);

  constructor(
    private readonly payments: MpesaPaymentsRepository,
    private readonly transactions: TransactionService,
    private readonly metrics: MpesaMetrics,
  ) {}

  /** Flags a payment for a callback's claims (merged into its entry when already recorded). */
  async flag(id: string, claims: Claims, kinds: MismatchKind[], why: string): Promise<void> {
    const added = await this.transactions.run(async (tx) => {
      const row = await this.payments.lock(tx, id);
      const entry = (row.callbackMismatches ?? []).find((m) => sameClaims(m, claims));
      const fresh = kinds.filter((k) => !entry?.kinds.includes(k));
      if (fresh.length) await this.append(tx, row, claims, fresh);
      return fresh;
    });
    if (added.length) this.alert(id, claims, added, why);
  }

  /** Adds kinds to the callback's entry (or a new entry) and flags the payment. */
  async append(
    tx: Tx,
    row: MpesaPayment,
    claims: Claims,
    kinds: MismatchKind[],
    same: (a: Claims, b: Claims) => boolean = sameClaims,
  ): Promise<void> {
    const list = [...(row.callbackMismatches ?? [])];
    const at = list.findIndex((m) => same(m, claims));
    if (at >= 0) list[at] = { ...list[at], kinds: [...list[at].kinds, ...kinds] };
    else {
      // When, on the database's clock (like every other time on the payment).
      const [{ now }] = await tx.manager.query<{ now: Date }[]>('SELECT now() AS now');
      list.push({ at: new Date(now).toISOString(), kinds, ...claims });
    }
    await tx.manager.update(MpesaPayment, { id: row.id }, { callbackMismatches: list, needsReview: true });
  }

  /** The alert: a metric per kind and an error line for whoever is on call (no PIN, no secret, no phone). */
  alert(id: string, claims: Claims, kinds: MismatchKind[], why?: string): void {
    this.metrics.callbackMismatch(kinds);
    this.logger.error(
      {
        id,
        kinds,
        why,
        claimedResultCode: claims.resultCode,
        claimedAmount: claims.amount,
        claimedReceipt: claims.receipt,
      },
      'M-PESA callback disagrees with its request, with Daraja or with an earlier callback: recorded, flagged for an operator, not applied',
    );
  }
}
