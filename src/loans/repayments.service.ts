import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { DomainError } from '../common/domain-error.js';
import { assertPositiveShillings, type Shillings } from '../common/money.js';
import { formatLocal } from '../common/phone-number.js';
import { RetryTransaction, TransactionService, type Tx } from '../database/transaction.service.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { SubscriberChanges } from '../users/subscriber-changes.js';
import { UsersService } from '../users/users.service.js';
import { LedgerService } from '../wallet/ledger.service.js';
import type { Transfer } from '../wallet/transfer.entity.js';
import type { User } from '../users/user.entity.js';
import { WalletService } from '../wallet/wallet.service.js';
import { allocate, type Allocation } from './allocation.js';
import { Loan } from './loan.entity.js';
import { LoanParties } from './loan-parties.js';
import { lockLoan, loadForParty } from './loan-rows.js';
import { nextStatus } from './loan-state.js';
import { LoanErrors } from './loans.errors.js';

export interface DepositInput {
  userId: string;
  amount: Shillings;
  /** Unique per deposit, e.g. the M-PESA receipt: the same reference never credits twice. */
  reference: string;
}

export interface DepositResult {
  transferId: string;
  amount: Shillings;
  deducted: Shillings;
  balance: Shillings;
  allocations: Allocation[];
  replayed: boolean;
}

const REFERENCE = /^[A-Za-z0-9_.:-]{1,100}$/;

/**
 * Money towards active loans: every deposit into a wallet first repays the depositor's loans
 * (allocation.ts), and a borrower may repay a loan at will. Each repayment moves money from the
 * borrower's wallet to the lender's through the ledger and lowers what the loan owes; a loan
 * owing nothing is REPAID.
 */
@Injectable()
export class RepaymentsService {
  constructor(
    private readonly transactions: TransactionService,
    private readonly ledger: LedgerService,
    private readonly wallet: WalletService,
    private readonly users: UsersService,
    private readonly notifications: NotificationsService,
    private readonly parties: LoanParties,
    private readonly changes: SubscriberChanges,
  ) {}

  /**
   * The one entry point for money arriving in a wallet (M-PESA, operators). Credits the wallet
   * and, in the same transaction, allocates to the user's active loans
   * (docs/money.md#debt-allocation). The same reference never credits twice.
   */
  async receiveDeposit(input: DepositInput): Promise<DepositResult> {
    const amount = assertPositiveShillings(input.amount);
    if (!REFERENCE.test(input.reference)) {
      throw new DomainError(
        'DEPOSIT.BAD_REFERENCE',
        'invalid',
        'A deposit reference is 1–100 letters, digits or _.:-',
        {
          field: 'reference',
        },
      );
    }
    const user = await this.users.getById(input.userId);
    const result = await this.transactions.run<DepositResult & { changed?: string[] }>(async (tx) => {
      // Lock every account this deposit may touch, in order, before the loans: the wallets, then
      // the clearing row this wallet's deposits debit (one of several, not one for every deposit).
      // A deposit delivered again is known by its ledger key, below.
      const candidates = await this.activeLoansOf(tx.manager, user.id, false);
      const lenderIds = [...new Set(candidates.map((l) => l.lenderId))];
      const [borrowerWallet, ...wallets] = await this.ledger.openWallets(tx.manager, [user.id, ...lenderIds]);
      const lenderWallets = new Map(lenderIds.map((id, i) => [id, wallets[i]]));
      const clearing = await this.wallet.clearingAccountFor(borrowerWallet, tx.manager);
      await this.ledger.lockAccounts(tx, [clearing, borrowerWallet, ...lenderWallets.values()]);

      const deposit = await this.wallet.creditDepositTo(tx, borrowerWallet, { amount, reference: input.reference });
      if (deposit.replayed) return this.replayedDeposit(tx, deposit.transfer, { ...input, amount }, borrowerWallet);

      const loans = await this.activeLoansOf(tx.manager, user.id, true);
      if (loans.some((l) => !lenderWallets.has(l.lenderId))) {
        // A loan was approved between our read and our lock: start again with its lender locked too.
        throw new RetryTransaction('a loan became active during the deposit');
      }
      const allocations = allocate(
        amount,
        loans.map((l) => ({
          id: l.id,
          repaymentPerDeposit: l.repaymentPerDeposit,
          outstanding: l.outstanding,
          approvedAt: l.approvedAt ?? l.createdAt,
        })),
      );
      const repaid = allocations.map(({ loanId }) => loans.find((l) => l.id === loanId)!);
      // Everyone to tell, read once: the borrower and each lender repaid.
      const parties = repaid.length > 0 ? await this.parties.everyone(tx.manager, repaid) : new Map<string, User>();
      for (const [i, { loanId, amount: x }] of allocations.entries()) {
        const loan = repaid[i];
        await this.ledger.transfer(tx, {
          idempotencyKey: `allocation:${input.reference}:${loanId}`,
          debitAccountId: borrowerWallet,
          creditAccountId: lenderWallets.get(loan.lenderId)!,
          amount: x,
          kind: 'loan_repayment',
          loanId,
        });
        await this.applyRepayment(tx, loan, x, [parties.get(loan.borrowerId)!, parties.get(loan.lenderId)!]);
      }
      const deducted = allocations.reduce((sum, a) => sum + a.amount, 0);
      // The wallet is locked: what the deposit left in it, less what went to the lenders.
      const balance = deposit.balances.credit - deducted;
      await this.notifications.notify(tx, {
        phoneNumber: user.phoneNumber,
        language: user.language,
        template: 'deposit.received',
        params: { amount, deducted, balance },
      });
      const lenders = repaid.map((l) => l.lenderId);
      return {
        transferId: deposit.transfer.id,
        amount,
        deducted,
        balance,
        allocations,
        replayed: false,
        changed: [user.id, ...lenders],
      };
    });
    // The depositor's balance, and each lender repaid from it (again for a replayed deposit, whose
    // first delivery may have been cut short before this point).
    const { changed, ...answer } = result;
    await this.changes.changed(changed ?? [user.id]);
    return answer;
  }

  /** A repayment the borrower chooses to make now, any amount up to min(outstanding, balance). */
  async repay(loanId: string, borrowerId: string, amount: Shillings, idempotencyKey: string): Promise<Loan> {
    const value = assertPositiveShillings(amount);
    const repaid = await this.transactions.run(async (tx) => {
      const loan = await loadForParty(tx.manager, loanId, borrowerId);
      if (loan.borrowerId !== borrowerId) throw LoanErrors.notBorrower();
      const [borrowerWallet, lenderWallet] = await this.ledger.lockWallets(tx, [loan.borrowerId, loan.lenderId]);
      const key = `repayment:${loanId}:${idempotencyKey}`;
      // A repeat of a repayment already made skips the checks: the ledger answers it (the same
      // content replays and nothing moves; other content is a conflict).
      const locked = (await this.ledger.findByKey(key, tx.manager)) ? null : await lockLoan(tx.manager, loanId);
      if (locked) {
        if (locked.status !== 'ACTIVE') nextStatus(locked.status, 'repay_in_full'); // throws LOAN.NOT_ACTIVE
        if (value > locked.outstanding) throw LoanErrors.repayTooMuch(locked.outstanding);
      }
      const moved = await this.ledger.transfer(tx, {
        idempotencyKey: key,
        debitAccountId: borrowerWallet,
        creditAccountId: lenderWallet,
        amount: value,
        kind: 'loan_repayment',
        loanId,
      });
      if (locked && !moved.replayed) await this.applyRepayment(tx, locked, value);
      return tx.manager.getRepository(Loan).findOneByOrFail({ id: loanId });
    });
    await this.parties.changed(repaid);
    return repaid;
  }

  /**
   * Lowers what is outstanding (the caller moved the money); a loan reaching 0 is REPAID.
   * `parties` (borrower, lender) when the caller has read them already.
   */
  private async applyRepayment(tx: Tx, loan: Loan, amount: Shillings, parties?: [User, User]): Promise<void> {
    const outstanding = loan.outstanding - amount;
    const status = outstanding === 0 ? nextStatus(loan.status, 'repay_in_full') : loan.status;
    await tx.manager.update(
      Loan,
      { id: loan.id },
      { outstanding, status, ...(status === 'REPAID' ? { closedAt: new Date() } : {}) },
    );
    loan.outstanding = outstanding;
    loan.status = status;
    const [borrower, lender] = parties ?? (await this.parties.of(tx.manager, loan));
    await this.notifications.notify(tx, {
      phoneNumber: lender.phoneNumber,
      language: lender.language,
      template: 'loan.repayment_received',
      params: { borrower: formatLocal(borrower.phoneNumber), amount, outstanding },
    });
    if (status === 'REPAID') {
      await this.notifications.notify(tx, {
        phoneNumber: borrower.phoneNumber,
        language: borrower.language,
        template: 'loan.repaid_borrower',
        params: { lender: formatLocal(lender.phoneNumber), principal: loan.principal },
      });
      await this.notifications.notify(tx, {
        phoneNumber: lender.phoneNumber,
        language: lender.language,
        template: 'loan.repaid_lender',
        params: { borrower: formatLocal(borrower.phoneNumber), principal: loan.principal },
      });
    }
  }

  /**
   * A deposit delivered again: `earlier` is the transfer the ledger answered the credit with, as
   * the same deposit (other content is a conflict it refused; one made before clearing was spread
   * debited its first row, and is the same deposit still). Nothing moves: what it did is read back.
   */
  private async replayedDeposit(
    tx: Tx,
    earlier: Transfer,
    input: DepositInput,
    walletId: string,
  ): Promise<DepositResult & { changed: string[] }> {
    // Exactly this deposit's keys, `allocation:<reference>:<loan uuid>` (references may contain ':').
    const prefix = `allocation:${input.reference}:`;
    const allocations = await tx.manager.query<{ loan_id: string; amount: string; lender_id: string }[]>(
      `SELECT t.loan_id, t.amount, l.lender_id FROM transfers t JOIN loans l ON l.id = t.loan_id
        WHERE left(t.idempotency_key, length($1)) = $1 AND length(t.idempotency_key) = length($1) + 36
        ORDER BY t.seq`,
      [prefix],
    );
    const list = allocations.map((a) => ({ loanId: a.loan_id, amount: Number(a.amount) }));
    return {
      transferId: earlier.id,
      amount: earlier.amount,
      deducted: list.reduce((s, a) => s + a.amount, 0),
      balance: await this.ledger.balanceOf(walletId, tx.manager),
      allocations: list,
      replayed: true,
      // Its first delivery may have been cut short before telling anyone: the same parties again.
      changed: [input.userId, ...allocations.map((a) => a.lender_id)],
    };
  }

  private async activeLoansOf(manager: EntityManager, borrowerId: string, lock: boolean): Promise<Loan[]> {
    const qb = manager
      .getRepository(Loan)
      .createQueryBuilder('l')
      .where(`l.borrower_id = :borrowerId AND l.status = 'ACTIVE'`, { borrowerId })
      .orderBy('l.approved_at', 'ASC')
      .addOrderBy('l.id', 'ASC');
    if (lock) qb.setLock('pessimistic_write');
    return qb.getMany();
  }
}
