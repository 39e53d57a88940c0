import type { Shillings } from '../common/money.js';

export interface AllocatableLoan {
  id: string;
  repaymentPerDeposit: Shillings;
  outstanding: Shillings;
  approvedAt: Date;
}

export interface Allocation {
  loanId: string;
  amount: Shillings;
}

/** Oldest approval first; the id breaks ties so the order is total and repeatable. */
export function allocationOrder(a: AllocatableLoan, b: AllocatableLoan): number {
  return a.approvedAt.getTime() - b.approvedAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Debt allocation (docs/money.md#debt-allocation): a deposit of D shillings pays, for each active
 * loan, oldest approval first, while money remains, x = min(repaymentPerDeposit, outstanding,
 * remaining). Pure: the loans service applies the result through the ledger in the deposit's transaction.
 */
export function allocate(deposit: Shillings, loans: readonly AllocatableLoan[]): Allocation[] {
  let remaining = deposit;
  const result: Allocation[] = [];
  for (const loan of [...loans].sort(allocationOrder)) {
    if (remaining <= 0) break;
    const amount = Math.min(loan.repaymentPerDeposit, loan.outstanding, remaining);
    if (amount > 0) {
      result.push({ loanId: loan.id, amount });
      remaining -= amount;
    }
  }
  return result;
}
