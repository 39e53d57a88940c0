/**
 * The sync API's shapes, shared by the service (which makes them) and the DTOs (which document
 * them for clients), so neither imports the other.
 */
export const SYNC_OPERATION_TYPES = [
  'loan.request',
  'loan.approve',
  'loan.decline',
  'loan.cancel',
  'loan.repay',
] as const;
export type SyncOperationType = (typeof SYNC_OPERATION_TYPES)[number];

export interface SyncLoan {
  id: string;
  role: 'borrower' | 'lender';
  status: string;
  principal: number;
  outstanding: number;
  repaymentPerDeposit: number;
  borrowerId: string;
  lenderId: string;
  createdAt: Date;
  updatedAt: Date;
  approvedAt: Date | null;
  closedAt: Date | null;
  expiresAt: Date;
}

export interface SyncTransfer {
  id: string;
  kind: string;
  /** Positive in, negative out, from the user's wallet's side. */
  amount: number;
  loanId: string | null;
  createdAt: Date;
}

export interface SyncPull {
  loans: SyncLoan[];
  transfers: SyncTransfer[];
  wallet: { balance: number };
  cursor: string;
  hasMore: boolean;
}

/** What became of one pushed operation (the DTO SyncOperationResult documents it for clients). */
export interface SyncResult {
  opId: string;
  status: 'applied' | 'duplicate' | 'rejected' | 'conflict';
  /** For a duplicate: what the first time came to. */
  outcome?: 'applied' | 'rejected' | 'conflict';
  loan?: Record<string, unknown>;
  code?: string;
  message?: string;
  serverState?: Record<string, unknown>;
}
