import type { LoanStatus } from '../../loans/loan-state.js';
import type { Loan } from '../../loans/loan.entity.js';
import type { LoansService } from '../../loans/loans.service.js';
import { withdrawalIdFor } from '../../mpesa/mpesa.rules.js';
import type { WithdrawalService } from '../../mpesa/withdrawal.service.js';
import type { TopUpService } from '../../mpesa/top-up.service.js';
import type { Language } from '../../common/language.js';
import type { UsersService } from '../../users/users.service.js';
import type { WalletService } from '../../wallet/wallet.service.js';
import type { EntryView, LoanFilter, LoanView, NewLoanRequest, Page, UssdBackend, UssdUser } from './ussd-backend.js';

export interface OnlineServices {
  users: UsersService;
  loans: LoansService;
  wallet: WalletService;
  withdrawals: WithdrawalService;
  topUps: TopUpService;
}

export function toLoanView(loan: Loan, userId: string): LoanView {
  const borrowed = loan.borrowerId === userId;
  return {
    id: loan.id,
    role: borrowed ? 'borrower' : 'lender',
    other: (borrowed ? loan.lender : loan.borrower)?.phoneNumber ?? '',
    principal: loan.principal,
    outstanding: loan.outstanding,
    repaymentPerDeposit: loan.repaymentPerDeposit,
    status: loan.status,
  };
}

function listOptions(filter: LoanFilter): { role: 'any' | 'lender' | 'borrower'; status?: LoanStatus[] } {
  switch (filter) {
    case 'all':
      return { role: 'any' };
    case 'awaiting-me':
      return { role: 'lender', status: ['PENDING'] };
    case 'repayable':
      return { role: 'borrower', status: ['ACTIVE'] };
  }
}

/** The screens' backend while PostgreSQL is up: the services themselves. */
export class OnlineBackend implements UssdBackend {
  readonly offline = false;
  /**
   * Whether this request wrote (a PIN, the language, a loan, money): the write has then brought
   * the snapshots of everyone it changed up to date before returning, nothing more to take.
   */
  wrote = false;
  /**
   * Whether this request read the subscriber's money or loans (worth keeping for offline reads);
   * a write refused (expired meanwhile, not enough money) counts: what it was refused on is news.
   */
  read = false;

  constructor(
    private readonly user: UssdUser,
    private readonly services: OnlineServices,
  ) {}

  takeReadFrom(): null {
    return null;
  }

  hasPin(): Promise<boolean> {
    return this.services.users.hasPin(this.user.id);
  }

  verifyPin(pin: string): Promise<void> {
    return this.services.users.verifyPin(this.user.id, pin);
  }

  async createPin(pin: string): Promise<void> {
    this.read = true;
    await this.services.users.createPin(this.user.id, pin);
    this.wrote = true;
  }

  async replacePin(pin: string): Promise<void> {
    this.read = true;
    await this.services.users.replacePin(this.user.id, pin);
    this.wrote = true;
  }

  sealPin(pin: string): string {
    return this.services.users.sealPin(pin);
  }

  sealedPinMatches(pin: string, sealed: string): boolean {
    return this.services.users.sealedPinMatches(pin, sealed);
  }

  async setLanguage(language: Language): Promise<void> {
    this.read = true;
    await this.services.users.setLanguage(this.user.id, language);
    this.wrote = true;
  }

  async loans(filter: LoanFilter, offset: number, limit: number): Promise<Page<LoanView>> {
    this.read = true;
    const { items, total } = await this.services.loans.listForUser(this.user.id, {
      ...listOptions(filter),
      limit,
      offset,
    });
    return { items: items.map((loan) => toLoanView(loan, this.user.id)), total };
  }

  async loan(loanId: string): Promise<LoanView> {
    this.read = true;
    const { loan } = await this.services.loans.getForParty(loanId, this.user.id);
    return toLoanView(loan, this.user.id);
  }

  async summary() {
    this.read = true;
    const { balance, owing, owed } = await this.services.loans.summary(this.user.id);
    return { balance, owing, owed };
  }

  balance(): Promise<number> {
    this.read = true;
    return this.services.wallet.balance(this.user.id);
  }

  async history(limit: number, before?: string): Promise<{ items: EntryView[]; nextCursor: string | null }> {
    this.read = true;
    const page = await this.services.wallet.history(this.user.id, { limit, before });
    return {
      items: page.items.map((entry) => ({ at: entry.createdAt.getTime(), kind: entry.kind, amount: entry.amount })),
      nextCursor: page.nextCursor,
    };
  }

  async requestLoan(request: NewLoanRequest, key: string): Promise<void> {
    this.read = true;
    await this.services.loans.requestLoan({ borrowerId: this.user.id, ...request, requestKey: key });
    this.wrote = true;
  }

  async approve(loanId: string): Promise<void> {
    this.read = true;
    await this.services.loans.approve(loanId, this.user.id);
    this.wrote = true;
  }

  async decline(loanId: string): Promise<void> {
    this.read = true;
    await this.services.loans.decline(loanId, this.user.id);
    this.wrote = true;
  }

  async repay(loanId: string, amount: number, key: string): Promise<{ outstanding: number }> {
    this.read = true;
    const loan = await this.services.loans.repay(loanId, this.user.id, amount, key);
    this.wrote = true;
    return { outstanding: loan.outstanding };
  }

  async topUp(amount: number): Promise<void> {
    await this.services.topUps.startTopUp(this.user.id, amount);
  }

  async withdraw(amount: number, key: string): Promise<void> {
    this.read = true;
    await this.services.withdrawals.withdraw(this.user.id, amount, { id: withdrawalIdFor(key) });
    this.wrote = true;
  }
}
