import { DomainError } from '../../common/domain-error.js';
import { nextStatus } from '../../loans/loan-state.js';
import { LoanErrors } from '../../loans/loans.errors.js';
import type { OfflineAction } from '../../notifications/templates.js';
import type { Language } from '../../common/language.js';
import type { UsersService } from '../../users/users.service.js';
import { WalletErrors } from '../../wallet/wallet.errors.js';
import type { OfflineQueueService } from '../../sync/offline-queue/offline-queue.service.js';
import type { UssdSnapshot } from './snapshot.store.js';
import {
  inFilter,
  QueuedOffline,
  type EntryView,
  type LoanFilter,
  type LoanView,
  type NewLoanRequest,
  type Page,
  type UssdBackend,
} from '../backend/ussd-backend.js';

const needsService = () =>
  new DomainError('SERVICE.OFFLINE', 'unavailable', 'This needs the database; it is not reachable right now');

/**
 * The screens' backend while PostgreSQL is down: reads come from the subscriber's snapshot,
 * writes are checked as far as the snapshot allows and go to the offline queue.
 */
export class OfflineBackend implements UssdBackend {
  readonly offline = true;
  private readFrom: number | null = null;

  constructor(
    private readonly snapshot: UssdSnapshot,
    private readonly users: UsersService,
    private readonly queue: OfflineQueueService,
  ) {}

  takeReadFrom(): number | null {
    const at = this.readFrom;
    this.readFrom = null;
    return at;
  }

  /** A read served from the snapshot. */
  private read<T>(value: T): T {
    this.readFrom = this.snapshot.takenAt;
    return value;
  }

  hasPin(): Promise<boolean> {
    return Promise.resolve(this.snapshot.user.hasPin);
  }

  verifyPin(pin: string): Promise<void> {
    return this.users.verifyPinOffline(this.snapshot.user.id, pin);
  }

  createPin(): Promise<void> {
    return Promise.reject(needsService());
  }

  replacePin(): Promise<void> {
    return Promise.reject(needsService());
  }

  sealPin(pin: string): string {
    return this.users.sealPin(pin);
  }

  sealedPinMatches(pin: string, sealed: string): boolean {
    return this.users.sealedPinMatches(pin, sealed);
  }

  setLanguage(_language: Language): Promise<void> {
    return Promise.reject(needsService());
  }

  loans(filter: LoanFilter, offset: number, limit: number): Promise<Page<LoanView>> {
    const matching = this.snapshot.loans.filter((loan) => inFilter(loan, filter));
    return Promise.resolve(this.read({ items: matching.slice(offset, offset + limit), total: matching.length }));
  }

  loan(loanId: string): Promise<LoanView> {
    const loan = this.snapshot.loans.find((l) => l.id === loanId);
    if (!loan) return Promise.reject(LoanErrors.notFound());
    return Promise.resolve(this.read(loan));
  }

  summary() {
    const { balance, owing, owed } = this.snapshot;
    return Promise.resolve(this.read({ balance, owing, owed }));
  }

  balance(): Promise<number> {
    return Promise.resolve(this.read(this.snapshot.balance));
  }

  history(limit: number, before?: string): Promise<{ items: EntryView[]; nextCursor: string | null }> {
    // Offline cursors are positions in the snapshot's list.
    const start = before?.startsWith('offline:') ? Number(before.slice('offline:'.length)) || 0 : 0;
    const items = this.snapshot.entries.slice(start, start + limit);
    const next = start + limit;
    return Promise.resolve(
      this.read({ items, nextCursor: next < this.snapshot.entries.length ? `offline:${next}` : null }),
    );
  }

  async requestLoan(request: NewLoanRequest, key: string): Promise<void> {
    await this.queueWrite('LOAN_REQUEST', { ...request }, key);
  }

  async approve(loanId: string, key: string): Promise<void> {
    const loan = this.waiting(loanId);
    // As far as the snapshot can tell; the ledger has the last word when the item is applied.
    if (loan.principal > this.snapshot.balance)
      throw WalletErrors.insufficientFunds(this.snapshot.balance, loan.principal);
    await this.queueWrite('LOAN_APPROVAL', { loanId, amount: loan.principal, borrower: loan.other }, key);
  }

  async decline(loanId: string, key: string): Promise<void> {
    const loan = this.waiting(loanId);
    await this.queueWrite('LOAN_DECLINE', { loanId, amount: loan.principal, borrower: loan.other }, key);
  }

  async repay(loanId: string, amount: number, key: string): Promise<{ outstanding: number }> {
    await this.queueWrite('REPAYMENT', { loanId, amount }, key);
    throw new Error('unreachable'); // queueWrite always throws QueuedOffline
  }

  topUp(): Promise<void> {
    // An M-PESA prompt is answered by a callback that needs the database: not now.
    return Promise.reject(needsService());
  }

  async withdraw(amount: number, key: string): Promise<void> {
    // As far as the snapshot can tell; the hold has the last word when the item is applied.
    if (amount > this.snapshot.balance) throw WalletErrors.insufficientFunds(this.snapshot.balance, amount);
    await this.queueWrite('WITHDRAWAL', { amount }, key);
  }

  private waiting(loanId: string): LoanView {
    const loan = this.snapshot.loans.find((l) => l.id === loanId && l.role === 'lender');
    if (!loan) throw LoanErrors.notFound();
    nextStatus(loan.status, 'approve'); // LOAN.NOT_PENDING unless still waiting
    return loan;
  }

  private async queueWrite(type: OfflineAction, data: Record<string, string | number>, key: string): Promise<never> {
    const { user } = this.snapshot;
    const reference = await this.queue.enqueue({
      type,
      phoneNumber: user.phoneNumber,
      userId: user.id,
      language: user.language,
      data,
      key,
    });
    throw new QueuedOffline(reference);
  }
}
