import { DomainError } from '../common/domain-error.js';
import { formatKsh } from '../common/money.js';

export const WalletErrors = {
  insufficientFunds: (balance: number, needed: number) =>
    new DomainError(
      'WALLET.INSUFFICIENT_FUNDS',
      'conflict',
      `Not enough money in the wallet: ${formatKsh(balance)} available, ${formatKsh(needed)} needed`,
      { balance, needed },
    ),
  idempotencyConflict: (key: string) =>
    new DomainError(
      'LEDGER.IDEMPOTENCY_CONFLICT',
      'conflict',
      'This idempotency key was already used for a different transfer',
      { idempotencyKey: key },
    ),
  accountNotFound: () => new DomainError('LEDGER.ACCOUNT_NOT_FOUND', 'not_found', 'No such account'),
  sameAccount: () => new DomainError('LEDGER.SAME_ACCOUNT', 'invalid', 'A transfer needs two different accounts'),
  withdrawalNotFound: () => new DomainError('WITHDRAWAL.NOT_FOUND', 'not_found', 'No such withdrawal hold'),
  withdrawalClosed: () =>
    new DomainError('WITHDRAWAL.ALREADY_CLOSED', 'conflict', 'This withdrawal was already settled or released'),
};
