import { DomainError } from '../common/domain-error.js';

export const LOAN_STATUSES = ['PENDING', 'ACTIVE', 'REPAID', 'DECLINED', 'CANCELLED', 'EXPIRED'] as const;
export type LoanStatus = (typeof LOAN_STATUSES)[number];

export const LOAN_EVENTS = ['approve', 'decline', 'cancel', 'expire', 'repay_in_full'] as const;
export type LoanEvent = (typeof LOAN_EVENTS)[number];

/**
 * The loan lifecycle: PENDING → ACTIVE → REPAID, and PENDING → DECLINED | CANCELLED | EXPIRED.
 * Nothing else. Terminal states have no way out.
 */
const TRANSITIONS: Readonly<Record<LoanStatus, Partial<Record<LoanEvent, LoanStatus>>>> = {
  PENDING: { approve: 'ACTIVE', decline: 'DECLINED', cancel: 'CANCELLED', expire: 'EXPIRED' },
  ACTIVE: { repay_in_full: 'REPAID' },
  REPAID: {},
  DECLINED: {},
  CANCELLED: {},
  EXPIRED: {},
};

export function canTransition(from: LoanStatus, event: LoanEvent): boolean {
  return TRANSITIONS[from][event] !== undefined;
}

/** The status after `event`, or a domain error saying why the loan cannot take it. */
export function nextStatus(from: LoanStatus, event: LoanEvent): LoanStatus {
  const to = TRANSITIONS[from][event];
  if (to) return to;
  if (event === 'repay_in_full') {
    throw new DomainError('LOAN.NOT_ACTIVE', 'conflict', `This loan is ${from.toLowerCase()}, not active`, {
      status: from,
    });
  }
  throw new DomainError('LOAN.NOT_PENDING', 'conflict', `This request is already ${from.toLowerCase()}`, {
    status: from,
  });
}

export function isTerminal(status: LoanStatus): boolean {
  return Object.keys(TRANSITIONS[status]).length === 0;
}
