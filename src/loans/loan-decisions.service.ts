import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DomainError } from '../common/domain-error.js';
import { formatLocal } from '../common/phone-number.js';
import { TransactionService } from '../database/transaction.service.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { LedgerService } from '../wallet/ledger.service.js';
import { Loan } from './loan.entity.js';
import { LoanParties } from './loan-parties.js';
import { lockLoan, loadForParty } from './loan-rows.js';
import { nextStatus } from './loan-state.js';
import { LoanErrors } from './loans.errors.js';

/**
 * How a pending request ends: the lender approves it (the disbursement, lender to borrower) or
 * declines it, the borrower cancels it, or its time runs out. Each is a transition of
 * loan-state.ts, and the other party is told.
 */
@Injectable()
export class LoanDecisionsService {
  constructor(
    private readonly transactions: TransactionService,
    private readonly ledger: LedgerService,
    private readonly notifications: NotificationsService,
    private readonly parties: LoanParties,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async approve(loanId: string, lenderId: string): Promise<Loan> {
    const approved = await this.transactions.run(async (tx) => {
      const loan = await loadForParty(tx.manager, loanId, lenderId);
      if (loan.lenderId !== lenderId) throw LoanErrors.notLender();
      const [lenderWallet, borrowerWallet] = await this.ledger.lockWallets(tx, [loan.lenderId, loan.borrowerId]);
      const locked = await lockLoan(tx.manager, loanId);
      const status = nextStatus(locked.status, 'approve');
      if (locked.expiresAt.getTime() <= Date.now()) {
        throw new DomainError('LOAN.NOT_PENDING', 'conflict', 'This request has expired', { status: 'EXPIRED' });
      }
      await this.ledger.transfer(tx, {
        idempotencyKey: `loan:${loanId}:disbursement`,
        debitAccountId: lenderWallet,
        creditAccountId: borrowerWallet,
        amount: locked.principal,
        kind: 'loan_disbursement',
        loanId,
      });
      await tx.manager.update(Loan, { id: loanId }, { status, approvedAt: new Date(), outstanding: locked.principal });
      const [borrower, lender] = await this.parties.of(tx.manager, locked);
      await this.notifications.notify(tx, {
        phoneNumber: borrower.phoneNumber,
        language: borrower.language,
        template: 'loan.approved',
        params: {
          lender: formatLocal(lender.phoneNumber),
          amount: locked.principal,
          repayment: locked.repaymentPerDeposit,
          balance: await this.ledger.balanceOf(borrowerWallet, tx.manager),
        },
      });
      return tx.manager.getRepository(Loan).findOneByOrFail({ id: loanId });
    });
    await this.parties.changed(approved);
    return approved;
  }

  async decline(loanId: string, lenderId: string): Promise<Loan> {
    const declined = await this.closePending(loanId, lenderId, 'decline');
    await this.parties.changed(declined);
    return declined;
  }

  async cancel(loanId: string, borrowerId: string): Promise<Loan> {
    const cancelled = await this.closePending(loanId, borrowerId, 'cancel');
    await this.parties.changed(cancelled);
    return cancelled;
  }

  /** Expires a pending request whose time is up; a no-op for anything else. */
  async expire(loanId: string): Promise<boolean> {
    const expired = await this.transactions.run(async (tx): Promise<Loan | null> => {
      const loan = await tx.manager
        .getRepository(Loan)
        .createQueryBuilder('l')
        .setLock('pessimistic_write')
        .where('l.id = :id', { id: loanId })
        .getOne();
      if (!loan || loan.status !== 'PENDING' || loan.expiresAt.getTime() > Date.now()) return null;
      await tx.manager.update(
        Loan,
        { id: loanId },
        { status: nextStatus(loan.status, 'expire'), closedAt: new Date() },
      );
      const [borrower, lender] = await this.parties.of(tx.manager, loan);
      await this.notifications.notify(tx, {
        phoneNumber: borrower.phoneNumber,
        language: borrower.language,
        template: 'loan.expired',
        params: { lender: formatLocal(lender.phoneNumber), amount: loan.principal },
      });
      return loan;
    });
    // The expiry job's write: nobody waits for a reply, but the snapshots are updated all the same.
    if (expired) await this.parties.changed(expired);
    return expired !== null;
  }

  /** The safety net behind the per-loan expiry jobs: expires every request past its time. */
  async expireDue(limit = 500): Promise<number> {
    const due: { id: string }[] = await this.dataSource.query(
      `SELECT id FROM loans WHERE status = 'PENDING' AND expires_at <= now() ORDER BY expires_at LIMIT $1`,
      [limit],
    );
    let expired = 0;
    for (const { id } of due) if (await this.expire(id)) expired += 1;
    return expired;
  }

  private async closePending(loanId: string, actorId: string, event: 'decline' | 'cancel'): Promise<Loan> {
    return this.transactions.run(async (tx) => {
      const loan = await loadForParty(tx.manager, loanId, actorId);
      if (event === 'decline' && loan.lenderId !== actorId) throw LoanErrors.notLender();
      if (event === 'cancel' && loan.borrowerId !== actorId) throw LoanErrors.notBorrower();
      const locked = await lockLoan(tx.manager, loanId);
      const status = nextStatus(locked.status, event);
      await tx.manager.update(Loan, { id: loanId }, { status, closedAt: new Date() });
      const [borrower, lender] = await this.parties.of(tx.manager, locked);
      if (event === 'decline') {
        await this.notifications.notify(tx, {
          phoneNumber: borrower.phoneNumber,
          language: borrower.language,
          template: 'loan.declined',
          params: { lender: formatLocal(lender.phoneNumber), amount: locked.principal },
        });
      } else {
        await this.notifications.notify(tx, {
          phoneNumber: lender.phoneNumber,
          language: lender.language,
          template: 'loan.cancelled',
          params: { borrower: formatLocal(borrower.phoneNumber), amount: locked.principal },
        });
      }
      return tx.manager.getRepository(Loan).findOneByOrFail({ id: loanId });
    });
  }
}
