// Size: over 400 lines. Loan lifecycle, the deposit use case and allocation, and the read side of
// loans in one service. Splitting it by flow, behind the same tests, is the restructuring issue ("A
// house to live in"), kept out of feature changes.
import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { DomainError } from '../common/domain-error.js';
import { isUuid } from '../common/ids.js';
import { assertPositiveShillings, isShillings, type Shillings } from '../common/money.js';
import { uniqueViolation } from '../common/postgres-errors.js';
import type { AppConfig } from '../config/app-config.js';
import { RetryTransaction, TransactionService, type Tx } from '../database/transaction.service.js';
import { NotificationsService } from '../notifications/notifications.service.js';
import { JobsService } from '../queues/jobs.service.js';
import { JobName } from '../queues/queue-names.js';
import { formatLocal } from '../common/phone-number.js';
import { SubscriberChanges } from '../users/subscriber-changes.js';
import type { User } from '../users/user.entity.js';
import { OnboardingService } from '../onboarding/onboarding.service.js';
import { UsersService } from '../users/users.service.js';
import { SystemAccount } from '../wallet/account.entity.js';
import { LedgerService } from '../wallet/ledger.service.js';
import type { Transfer } from '../wallet/transfer.entity.js';
import { WalletService } from '../wallet/wallet.service.js';
import { allocate, type Allocation } from './allocation.js';
import { Loan } from './loan.entity.js';
import { nextStatus, type LoanStatus } from './loan-state.js';
import { LoanErrors } from './loans.errors.js';

export const MIN_REPAYMENT_PER_DEPOSIT = 10;

export interface LoanRequestInput {
  borrowerId: string;
  lenderPhoneNumber: string;
  amount: Shillings;
  repaymentPerDeposit: Shillings;
  /** The client's idempotency key: the same key never creates two requests. */
  requestKey?: string;
}

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

export interface LoanWithRepayments {
  loan: Loan;
  repayments: Transfer[];
}

export interface LoanSummary {
  balance: Shillings;
  /** What others owe this user on active loans they lent. */
  owed: Shillings;
  /** What this user owes on active loans they borrowed. */
  owing: Shillings;
  activeAsBorrower: number;
  activeAsLender: number;
  pendingApprovals: number;
}

const REFERENCE = /^[A-Za-z0-9_.:-]{1,100}$/;

/**
 * The loan lifecycle and the one entry point for incoming money. Every money movement goes
 * through the ledger; every notification is written in the same transaction as the change.
 * Every write, once committed, tells SubscriberChanges whose data it changed (both parties of a
 * loan) and waits for it: what a channel keeps of them (USSD's offline snapshots) is up to date
 * before the write returns.
 *
 * Locking discipline (no deadlocks): an operation locks all the accounts it will touch first,
 * in id order (LedgerService.lockAccounts), and only then the loan rows.
 */
@Injectable()
export class LoansService {
  private readonly logger = new Logger(LoansService.name);
  private readonly settings: AppConfig['loans'];

  constructor(
    private readonly transactions: TransactionService,
    private readonly ledger: LedgerService,
    private readonly wallet: WalletService,
    private readonly users: UsersService,
    private readonly onboarding: OnboardingService,
    private readonly notifications: NotificationsService,
    private readonly jobs: JobsService,
    private readonly changes: SubscriberChanges,
    @InjectDataSource() private readonly dataSource: DataSource,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('loans', { infer: true });
  }

  // ---------------------------------------------------------------- requests

  async requestLoan(input: LoanRequestInput): Promise<Loan> {
    const { minAmount, maxAmount, maxPending, requestTtlMs } = this.settings;
    if (!isShillings(input.amount) || input.amount < minAmount || input.amount > maxAmount) {
      throw LoanErrors.amountOutOfRange(minAmount, maxAmount);
    }
    const amount = input.amount;
    const cap = Math.min(amount, maxAmount);
    if (
      !isShillings(input.repaymentPerDeposit) ||
      input.repaymentPerDeposit < MIN_REPAYMENT_PER_DEPOSIT ||
      input.repaymentPerDeposit > cap
    ) {
      throw LoanErrors.repaymentOutOfRange(MIN_REPAYMENT_PER_DEPOSIT, cap);
    }
    const repayment = input.repaymentPerDeposit;
    const borrower = await this.users.getById(input.borrowerId);
    const lender = await this.onboarding.identify(input.lenderPhoneNumber);
    if (lender.id === borrower.id) throw LoanErrors.selfLoan();

    const loan = await this.transactions
      .run(async (tx) => {
        // One request at a time per borrower, so the pending limit holds under concurrency.
        await tx.manager.query(`SELECT pg_advisory_xact_lock(hashtextextended('loan-request:' || $1, 0))`, [
          borrower.id,
        ]);
        const repo = tx.manager.getRepository(Loan);
        // The borrower's pending count and an earlier request under the same key, in one query.
        const [found] = await tx.manager.query<{ pending: number; earlier: string | null }[]>(
          `SELECT (SELECT count(*)::int FROM loans WHERE borrower_id = $1 AND status = 'PENDING') AS pending,
                (SELECT id FROM loans WHERE request_key = $2) AS earlier`,
          [borrower.id, input.requestKey ?? null],
        );
        if (found.earlier) {
          const earlier = await repo.findOneByOrFail({ id: found.earlier });
          const same =
            earlier.borrowerId === borrower.id &&
            earlier.lenderId === lender.id &&
            earlier.principal === amount &&
            earlier.repaymentPerDeposit === repayment;
          if (!same) throw LoanErrors.requestKeyConflict();
          return { loan: earlier, created: false };
        }
        if (found.pending >= maxPending) throw LoanErrors.tooManyPending(maxPending);
        // The same request still pending is refused by UQ_loans_pending_duplicate (mapped below).
        const saved = repo.create({
          borrowerId: borrower.id,
          lenderId: lender.id,
          principal: amount,
          repaymentPerDeposit: repayment,
          outstanding: amount,
          status: 'PENDING',
          requestKey: input.requestKey ?? null,
          expiresAt: new Date(Date.now() + requestTtlMs),
        });
        // insert, not save: a new row needs no persistence graph; ids and defaults come back with it.
        await repo.insert(saved);
        await this.notifications.notify(tx, {
          phoneNumber: lender.phoneNumber,
          language: lender.language,
          template: 'loan.requested',
          params: { borrower: formatLocal(borrower.phoneNumber), amount, repayment },
        });
        tx.afterCommit(() =>
          this.jobs.add(
            JobName.ExpireLoan,
            { loanId: saved.id },
            {
              jobId: `expire-${saved.id}`,
              delay: requestTtlMs,
              attempts: 5,
              backoff: { type: 'exponential', delay: 5_000 },
            },
          ),
        );
        return { loan: saved, created: true };
      })
      .catch((e) => {
        const constraint = uniqueViolation(e);
        if (constraint === 'UQ_loans_pending_duplicate') throw LoanErrors.duplicateRequest();
        if (constraint === 'UQ_loans_request_key' && input.requestKey) {
          // A concurrent call with the same key won: answer as the replay would.
          return this.requestLoan(input).then((l) => ({ loan: l, created: false }));
        }
        throw e;
      });
    // A replay too: its first delivery may have been cut short between the commit and this.
    await this.partiesChanged(loan.loan);
    return loan.loan;
  }

  async approve(loanId: string, lenderId: string): Promise<Loan> {
    const approved = await this.transactions.run(async (tx) => {
      const loan = await this.loadForParty(tx.manager, loanId, lenderId);
      if (loan.lenderId !== lenderId) throw LoanErrors.notLender();
      const [lenderWallet, borrowerWallet] = await this.ledger.lockWallets(tx, [loan.lenderId, loan.borrowerId]);
      const locked = await this.lockLoan(tx.manager, loanId);
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
      const [borrower, lender] = await this.parties(tx.manager, locked);
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
    await this.partiesChanged(approved);
    return approved;
  }

  async decline(loanId: string, lenderId: string): Promise<Loan> {
    const declined = await this.closePending(loanId, lenderId, 'decline');
    await this.partiesChanged(declined);
    return declined;
  }

  async cancel(loanId: string, borrowerId: string): Promise<Loan> {
    const cancelled = await this.closePending(loanId, borrowerId, 'cancel');
    await this.partiesChanged(cancelled);
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
      const [borrower, lender] = await this.parties(tx.manager, loan);
      await this.notifications.notify(tx, {
        phoneNumber: borrower.phoneNumber,
        language: borrower.language,
        template: 'loan.expired',
        params: { lender: formatLocal(lender.phoneNumber), amount: loan.principal },
      });
      return loan;
    });
    // The expiry job's write: nobody waits for a reply, but the snapshots are updated all the same.
    if (expired) await this.partiesChanged(expired);
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

  // ---------------------------------------------------------------- money

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
      const borrowerWallet = await this.ledger.openWallet(tx.manager, user.id);
      const clearing = await this.ledger.systemAccountId(SystemAccount.MpesaClearing, tx.manager);
      const earlier = await this.ledger.findByKey(`deposit:${input.reference}`, tx.manager);
      if (earlier) return this.replayedDeposit(tx, earlier, { ...input, amount }, borrowerWallet);

      // Lock every account this deposit may touch, in order, before the loans.
      const candidates = await this.activeLoansOf(tx.manager, user.id, false);
      const lenderWallets = new Map<string, string>();
      for (const loan of candidates)
        lenderWallets.set(loan.lenderId, await this.ledger.openWallet(tx.manager, loan.lenderId));
      await this.ledger.lockAccounts(tx, [clearing, borrowerWallet, ...lenderWallets.values()]);

      const deposit = await this.wallet.creditDeposit(tx, { userId: user.id, amount, reference: input.reference });
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
      for (const { loanId, amount: x } of allocations) {
        const loan = loans.find((l) => l.id === loanId)!;
        await this.ledger.transfer(tx, {
          idempotencyKey: `allocation:${input.reference}:${loanId}`,
          debitAccountId: borrowerWallet,
          creditAccountId: lenderWallets.get(loan.lenderId)!,
          amount: x,
          kind: 'loan_repayment',
          loanId,
        });
        await this.applyRepayment(tx, loan, x);
      }
      const deducted = allocations.reduce((sum, a) => sum + a.amount, 0);
      const balance = await this.ledger.balanceOf(borrowerWallet, tx.manager);
      await this.notifications.notify(tx, {
        phoneNumber: user.phoneNumber,
        language: user.language,
        template: 'deposit.received',
        params: { amount, deducted, balance },
      });
      const lenders = allocations.map((a) => loans.find((l) => l.id === a.loanId)!.lenderId);
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
      const loan = await this.loadForParty(tx.manager, loanId, borrowerId);
      if (loan.borrowerId !== borrowerId) throw LoanErrors.notBorrower();
      const [borrowerWallet, lenderWallet] = await this.ledger.lockWallets(tx, [loan.borrowerId, loan.lenderId]);
      const key = `repayment:${loanId}:${idempotencyKey}`;
      // A repeat of a repayment already made skips the checks: the ledger answers it (the same
      // content replays and nothing moves; other content is a conflict).
      const locked = (await this.ledger.findByKey(key, tx.manager)) ? null : await this.lockLoan(tx.manager, loanId);
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
    await this.partiesChanged(repaid);
    return repaid;
  }

  // ---------------------------------------------------------------- queries

  async getForParty(loanId: string, userId: string): Promise<LoanWithRepayments> {
    const loan = await this.loadForParty(this.dataSource.manager, loanId, userId, true);
    const repayments = (await this.ledger.transfersForLoan(loanId)).filter((t) => t.kind === 'loan_repayment');
    return { loan, repayments };
  }

  /** Loans where the user is the borrower, the lender, or either; newest first. */
  async listForUser(
    userId: string,
    options: {
      role?: 'borrower' | 'lender' | 'any';
      status?: LoanStatus[];
      limit?: number;
      offset?: number;
      /** false: no count (total is then the number of items returned), one query fewer. */
      count?: boolean;
    } = {},
  ): Promise<{ items: Loan[]; total: number }> {
    const qb = this.dataSource
      .getRepository(Loan)
      .createQueryBuilder('l')
      .leftJoinAndSelect('l.borrower', 'borrower')
      .leftJoinAndSelect('l.lender', 'lender');
    const role = options.role ?? 'any';
    if (role === 'borrower') qb.where('l.borrower_id = :userId', { userId });
    else if (role === 'lender') qb.where('l.lender_id = :userId', { userId });
    else qb.where('(l.borrower_id = :userId OR l.lender_id = :userId)', { userId });
    if (options.status?.length) qb.andWhere('l.status IN (:...status)', { status: options.status });
    // limit/offset rather than take/skip: both joins are many-to-one (a loan has one borrower and
    // one lender), so rows are loans and one query pages them (take/skip would add a DISTINCT one).
    qb.orderBy('l.created_at', 'DESC')
      .addOrderBy('l.id', 'DESC')
      .limit(Math.min(Math.max(options.limit ?? 20, 1), 100))
      .offset(Math.max(options.offset ?? 0, 0));
    if (options.count === false) {
      const items = await qb.getMany();
      return { items, total: items.length };
    }
    const [items, total] = await qb.getManyAndCount();
    return { items, total };
  }

  pendingForLender(lenderId: string, options: { limit?: number; offset?: number } = {}) {
    return this.listForUser(lenderId, { ...options, role: 'lender', status: ['PENDING'] });
  }

  async summary(userId: string): Promise<LoanSummary> {
    const [row] = await this.dataSource.query<
      {
        owed: string;
        owing: string;
        active_as_borrower: number;
        active_as_lender: number;
        pending_approvals: number;
      }[]
    >(
      `SELECT
         coalesce(sum(outstanding) FILTER (WHERE status = 'ACTIVE' AND lender_id = $1), 0)   AS owed,
         coalesce(sum(outstanding) FILTER (WHERE status = 'ACTIVE' AND borrower_id = $1), 0) AS owing,
         count(*) FILTER (WHERE status = 'ACTIVE' AND borrower_id = $1)::int AS active_as_borrower,
         count(*) FILTER (WHERE status = 'ACTIVE' AND lender_id = $1)::int   AS active_as_lender,
         count(*) FILTER (WHERE status = 'PENDING' AND lender_id = $1)::int  AS pending_approvals
       FROM loans WHERE borrower_id = $1 OR lender_id = $1`,
      [userId],
    );
    return {
      balance: await this.wallet.balance(userId),
      owed: Number(row.owed),
      owing: Number(row.owing),
      activeAsBorrower: row.active_as_borrower,
      activeAsLender: row.active_as_lender,
      pendingApprovals: row.pending_approvals,
    };
  }

  // ---------------------------------------------------------------- internals

  /**
   * After a committed write to a loan: both parties changed (their loans, and for money their
   * balances). Awaited, so the write's caller answers once their read models are up to date.
   */
  private partiesChanged(loan: Loan): Promise<void> {
    return this.changes.changed([loan.borrowerId, loan.lenderId]);
  }

  private async closePending(loanId: string, actorId: string, event: 'decline' | 'cancel'): Promise<Loan> {
    return this.transactions.run(async (tx) => {
      const loan = await this.loadForParty(tx.manager, loanId, actorId);
      if (event === 'decline' && loan.lenderId !== actorId) throw LoanErrors.notLender();
      if (event === 'cancel' && loan.borrowerId !== actorId) throw LoanErrors.notBorrower();
      const locked = await this.lockLoan(tx.manager, loanId);
      const status = nextStatus(locked.status, event);
      await tx.manager.update(Loan, { id: loanId }, { status, closedAt: new Date() });
      const [borrower, lender] = await this.parties(tx.manager, locked);
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

  /** Lowers what is outstanding (the caller moved the money); a loan reaching 0 is REPAID. */
  private async applyRepayment(tx: Tx, loan: Loan, amount: Shillings): Promise<void> {
    const outstanding = loan.outstanding - amount;
    const status = outstanding === 0 ? nextStatus(loan.status, 'repay_in_full') : loan.status;
    await tx.manager.update(
      Loan,
      { id: loan.id },
      { outstanding, status, ...(status === 'REPAID' ? { closedAt: new Date() } : {}) },
    );
    loan.outstanding = outstanding;
    loan.status = status;
    const [borrower, lender] = await this.parties(tx.manager, loan);
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

  private async replayedDeposit(
    tx: Tx,
    earlier: Transfer,
    input: DepositInput,
    walletId: string,
  ): Promise<DepositResult & { changed: string[] }> {
    // Let the ledger decide whether this is the same deposit (nothing moves) or a conflict.
    const clearing = await this.ledger.systemAccountId(SystemAccount.MpesaClearing, tx.manager);
    await this.ledger.transfer(tx, {
      idempotencyKey: `deposit:${input.reference}`,
      debitAccountId: clearing,
      creditAccountId: walletId,
      amount: input.amount,
      kind: 'deposit',
    });
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

  private async lockLoan(manager: EntityManager, loanId: string): Promise<Loan> {
    const loan = await manager
      .getRepository(Loan)
      .createQueryBuilder('l')
      .setLock('pessimistic_write')
      .where('l.id = :id', { id: loanId })
      .getOne();
    if (!loan) throw LoanErrors.notFound();
    return loan;
  }

  /** The loan, if this user is one of its parties; otherwise it does not exist for them. */
  private async loadForParty(
    manager: EntityManager,
    loanId: string,
    userId: string,
    withParties = false,
  ): Promise<Loan> {
    if (!isUuid(loanId)) throw LoanErrors.notFound();
    const loan = await manager.getRepository(Loan).findOne({
      where: { id: loanId },
      relations: withParties ? { borrower: true, lender: true } : undefined,
    });
    if (!loan || (loan.borrowerId !== userId && loan.lenderId !== userId)) throw LoanErrors.notFound();
    return loan;
  }

  private async parties(manager: EntityManager, loan: Loan): Promise<[User, User]> {
    return Promise.all([this.users.getById(loan.borrowerId, manager), this.users.getById(loan.lenderId, manager)]);
  }
}
