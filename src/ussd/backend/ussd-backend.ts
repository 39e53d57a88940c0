import type { LoanStatus } from '../../loans/loan-state.js';
import type { Language } from '../../common/language.js';
import type { TransferKind } from '../../wallet/transfer.entity.js';

/** The subscriber a USSD request is for. */
export interface UssdUser {
  id: string;
  phoneNumber: string;
  language: Language;
}

/** A loan as the screens show it, from the subscriber's side (plain data: snapshots keep it). */
export interface LoanView {
  id: string;
  role: 'borrower' | 'lender';
  /** The other party's MSISDN. */
  other: string;
  principal: number;
  outstanding: number;
  repaymentPerDeposit: number;
  status: LoanStatus;
}

export interface EntryView {
  /** Epoch milliseconds. */
  at: number;
  kind: TransferKind;
  /** Positive in, negative out. */
  amount: number;
}

/** all: every loan; awaiting-me: requests this lender has to answer; repayable: my active debts. */
export type LoanFilter = 'all' | 'awaiting-me' | 'repayable';

export interface Page<T> {
  items: T[];
  total: number;
}

export interface NewLoanRequest {
  lenderPhoneNumber: string;
  amount: number;
  repaymentPerDeposit: number;
}

/**
 * Everything the USSD screens read and write, for one subscriber. Online it is the services
 * themselves; while PostgreSQL is down it reads the subscriber's snapshot in Redis and puts writes
 * on the offline queue (which answers by throwing QueuedOffline). Writes take the USSD action's
 * idempotency key, so a write started online and finished from the queue happens once.
 */
export interface UssdBackend {
  readonly offline: boolean;
  /**
   * Offline: when the snapshot behind the reads since the last call was taken (the screen says
   * "as of"), and forget it; null when nothing was read from a snapshot.
   */
  takeReadFrom(): number | null;

  hasPin(): Promise<boolean>;
  verifyPin(pin: string): Promise<void>;
  createPin(pin: string): Promise<void>;
  replacePin(pin: string): Promise<void>;
  /** A PIN kept sealed (peppered hash) between two screens until it is confirmed. */
  sealPin(pin: string): string;
  sealedPinMatches(pin: string, sealed: string): boolean;
  setLanguage(language: Language): Promise<void>;

  loans(filter: LoanFilter, offset: number, limit: number): Promise<Page<LoanView>>;
  loan(loanId: string): Promise<LoanView>;
  summary(): Promise<{ balance: number; owing: number; owed: number }>;
  balance(): Promise<number>;
  /** Newest first; `before` is the previous page's `nextCursor`. */
  history(limit: number, before?: string): Promise<{ items: EntryView[]; nextCursor: string | null }>;

  requestLoan(request: NewLoanRequest, key: string): Promise<void>;
  approve(loanId: string, key: string): Promise<void>;
  decline(loanId: string, key: string): Promise<void>;
  /** Returns what is still owed. */
  repay(loanId: string, amount: number, key: string): Promise<{ outstanding: number }>;
  /** An M-PESA prompt (STK push) to the subscriber's phone; the wallet is credited on the callback. */
  topUp(amount: number): Promise<void>;
  /** Holds the amount and pays it out to M-PESA (B2C); one withdrawal per key. */
  withdraw(amount: number, key: string): Promise<void>;
}

/**
 * Not an error: the write was accepted offline and will be applied when the database is back.
 * The journey engine ends the session with the reference.
 */
export class QueuedOffline extends Error {
  constructor(readonly reference: string) {
    super(`queued offline as ${reference}`);
    this.name = 'QueuedOffline';
  }
}

/** The same filter as the online queries, for a snapshot's list. */
export function inFilter(loan: LoanView, filter: LoanFilter): boolean {
  switch (filter) {
    case 'all':
      return true;
    case 'awaiting-me':
      return loan.role === 'lender' && loan.status === 'PENDING';
    case 'repayable':
      return loan.role === 'borrower' && loan.status === 'ACTIVE';
  }
}
