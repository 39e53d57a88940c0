import type { Transfer } from '../wallet/transfer.entity.js';
import type { LoanView } from './dto/loan.dto.js';
import type { Loan } from './loan.entity.js';

/** The API's view of a loan, from the side of the user asking. */
export function presentLoan(
  loan: Loan,
  viewerId: string,
  phones: Map<string, string>,
  repayments?: Transfer[],
): LoanView {
  return {
    id: loan.id,
    status: loan.status,
    role: loan.borrowerId === viewerId ? 'borrower' : 'lender',
    principal: loan.principal,
    outstanding:
      loan.status === 'PENDING' ||
      loan.status === 'DECLINED' ||
      loan.status === 'CANCELLED' ||
      loan.status === 'EXPIRED'
        ? loan.principal
        : loan.outstanding,
    repaymentPerDeposit: loan.repaymentPerDeposit,
    borrowerPhoneNumber: loan.borrower?.phoneNumber ?? phones.get(loan.borrowerId) ?? '',
    lenderPhoneNumber: loan.lender?.phoneNumber ?? phones.get(loan.lenderId) ?? '',
    createdAt: loan.createdAt,
    expiresAt: loan.expiresAt,
    approvedAt: loan.approvedAt,
    closedAt: loan.closedAt,
    ...(repayments
      ? { repayments: repayments.map((t) => ({ id: t.id, amount: t.amount, createdAt: t.createdAt })) }
      : {}),
  };
}
