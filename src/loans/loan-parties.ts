import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { SubscriberChanges } from '../users/subscriber-changes.js';
import type { User } from '../users/user.entity.js';
import { UsersService } from '../users/users.service.js';
import type { Loan } from './loan.entity.js';

/** A loan's two parties, for the services that change loans: who they are, and telling that they changed. */
@Injectable()
export class LoanParties {
  constructor(
    private readonly users: UsersService,
    private readonly changes: SubscriberChanges,
  ) {}

  /** Borrower and lender, read in the caller's transaction (to address their notifications). */
  async of(manager: EntityManager, loan: Loan): Promise<[User, User]> {
    const found = await this.users.getByIds([loan.borrowerId, loan.lenderId], manager);
    return [found.get(loan.borrowerId)!, found.get(loan.lenderId)!];
  }

  /** Everyone these loans name, borrowers and lenders, by id, in one query in the caller's transaction. */
  everyone(manager: EntityManager, loans: readonly Loan[]): Promise<Map<string, User>> {
    return this.users.getByIds(
      loans.flatMap((l) => [l.borrowerId, l.lenderId]),
      manager,
    );
  }

  /**
   * After a committed write to a loan: both parties changed (their loans, and for money their
   * balances). Awaited, so the write's caller answers once their read models are up to date.
   */
  changed(loan: Loan): Promise<void> {
    return this.changes.changed([loan.borrowerId, loan.lenderId]);
  }
}
