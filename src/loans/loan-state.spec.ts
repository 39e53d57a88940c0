import fc from 'fast-check';
import { isDomainError } from '../common/domain-error.js';
import {
  canTransition,
  isTerminal,
  LOAN_EVENTS,
  LOAN_STATUSES,
  nextStatus,
  type LoanEvent,
  type LoanStatus,
} from './loan-state.js';

const ALLOWED: [LoanStatus, LoanEvent, LoanStatus][] = [
  ['PENDING', 'approve', 'ACTIVE'],
  ['PENDING', 'decline', 'DECLINED'],
  ['PENDING', 'cancel', 'CANCELLED'],
  ['PENDING', 'expire', 'EXPIRED'],
  ['ACTIVE', 'repay_in_full', 'REPAID'],
];

describe('loan lifecycle', () => {
  it.each(ALLOWED)('%s --%s--> %s', (from, event, to) => {
    expect(nextStatus(from, event)).toBe(to);
  });

  it('refuses every other transition with a stable code', () => {
    for (const from of LOAN_STATUSES) {
      for (const event of LOAN_EVENTS) {
        if (ALLOWED.some(([f, e]) => f === from && e === event)) continue;
        expect(canTransition(from, event)).toBe(false);
        let code = '';
        try {
          nextStatus(from, event);
        } catch (e) {
          if (isDomainError(e)) code = e.code;
        }
        expect(code).toBe(event === 'repay_in_full' ? 'LOAN.NOT_ACTIVE' : 'LOAN.NOT_PENDING');
      }
    }
  });

  it('any sequence of events keeps a loan on the documented paths, and terminal states stay put', () => {
    const reachable: Record<LoanStatus, LoanStatus[]> = {
      PENDING: ['PENDING', 'ACTIVE', 'REPAID', 'DECLINED', 'CANCELLED', 'EXPIRED'],
      ACTIVE: ['ACTIVE', 'REPAID'],
      REPAID: ['REPAID'],
      DECLINED: ['DECLINED'],
      CANCELLED: ['CANCELLED'],
      EXPIRED: ['EXPIRED'],
    };
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...LOAN_EVENTS), { maxLength: 20 }), (events) => {
        let status: LoanStatus = 'PENDING';
        const path: LoanStatus[] = [status];
        for (const event of events) {
          const before: LoanStatus = status;
          if (canTransition(status, event)) status = nextStatus(status, event);
          else expect(() => nextStatus(status, event)).toThrow();
          expect(reachable[before]).toContain(status);
          if (isTerminal(before)) expect(status).toBe(before);
          if (status !== before) path.push(status);
        }
        // At most two steps from PENDING, and money moves only on the way to ACTIVE.
        expect(path.length).toBeLessThanOrEqual(3);
        if (path.includes('REPAID')) expect(path).toEqual(['PENDING', 'ACTIVE', 'REPAID']);
      }),
      { numRuns: 2000 },
    );
  });

  it('calls exactly the states with no way out terminal', () => {
    expect(LOAN_STATUSES.filter((s) => isTerminal(s))).toEqual(['REPAID', 'DECLINED', 'CANCELLED', 'EXPIRED']);
  });
});
