// A loan row read or locked inside the caller's transaction, for the services that change loans.
import type { EntityManager } from 'typeorm';
import { isUuid } from '../common/ids.js';
import { Loan } from './loan.entity.js';
import { LoanErrors } from './loans.errors.js';

/** The loan, locked for update until the transaction ends (after the accounts: see LoansService). */
export async function lockLoan(manager: EntityManager, loanId: string): Promise<Loan> {
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
export async function loadForParty(
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
