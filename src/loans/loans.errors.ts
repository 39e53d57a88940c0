import { DomainError } from '../common/domain-error.js';
import { formatKsh } from '../common/money.js';

export const LoanErrors = {
  notFound: () => new DomainError('LOAN.NOT_FOUND', 'not_found', 'No such loan'),
  selfLoan: () =>
    new DomainError('LOAN.SELF_LOAN', 'invalid', 'You cannot borrow from yourself', { field: 'lenderPhoneNumber' }),
  amountOutOfRange: (min: number, max: number) =>
    new DomainError(
      'LOAN.AMOUNT_OUT_OF_RANGE',
      'invalid',
      `The amount must be a whole number from ${formatKsh(min)} to ${formatKsh(max)}`,
      {
        field: 'amount',
        min,
        max,
      },
    ),
  repaymentOutOfRange: (min: number, max: number) =>
    new DomainError(
      'LOAN.REPAYMENT_OUT_OF_RANGE',
      'invalid',
      `The repayment per deposit must be a whole number from ${formatKsh(min)} to ${formatKsh(max)}`,
      { field: 'repaymentPerDeposit', min, max },
    ),
  tooManyPending: (max: number) =>
    new DomainError('LOAN.TOO_MANY_PENDING', 'conflict', `You already have ${max} requests waiting for an answer`, {
      max,
    }),
  duplicateRequest: () =>
    new DomainError(
      'LOAN.DUPLICATE_REQUEST',
      'conflict',
      'The same request to this lender is already waiting for an answer',
    ),
  requestKeyConflict: () =>
    new DomainError(
      'LOAN.REQUEST_KEY_CONFLICT',
      'conflict',
      'This request key was already used for a different request',
    ),
  notLender: () => new DomainError('LOAN.NOT_LENDER', 'forbidden', 'Only the lender can answer this request'),
  notBorrower: () => new DomainError('LOAN.NOT_BORROWER', 'forbidden', 'Only the borrower can do this'),
  repayTooMuch: (outstanding: number) =>
    new DomainError('LOAN.REPAYMENT_EXCEEDS_OUTSTANDING', 'invalid', `Only ${formatKsh(outstanding)} is outstanding`, {
      field: 'amount',
      outstanding,
    }),
};
