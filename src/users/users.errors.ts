import { DomainError } from '../common/domain-error.js';
import type { NameRejection } from '../common/display-name.js';

export const UserErrors = {
  notFound: () => new DomainError('USER.NOT_FOUND', 'not_found', 'No such user'),
  /** NAME.REQUIRED, NAME.LENGTH or NAME.CHARACTERS from parseDisplayName, as USER.NAME_*. */
  badName: (code: NameRejection, reason: string) =>
    new DomainError(`USER.${code.replace('.', '_')}`, 'invalid', reason, { field: 'name' }),
  pinNotSet: () => new DomainError('USER.PIN_NOT_SET', 'conflict', 'Create a PIN first'),
  pinOffline: () =>
    new DomainError(
      'USER.PIN_OFFLINE',
      'unavailable',
      'The PIN cannot be checked while the database is unavailable; try again later',
    ),
  pinAlreadySet: () =>
    new DomainError('USER.PIN_ALREADY_SET', 'conflict', 'A PIN is already set; change it with the old PIN'),
  pinFormat: () => new DomainError('USER.PIN_FORMAT', 'invalid', 'A PIN is exactly 4 digits', { field: 'pin' }),
  pinTrivial: () =>
    new DomainError('USER.PIN_TRIVIAL', 'invalid', 'Choose a PIN that is not all one digit or a sequence', {
      field: 'pin',
    }),
  pinUnchanged: () => new DomainError('USER.PIN_UNCHANGED', 'invalid', 'The new PIN must differ from the old one'),
  pinInvalid: (attemptsLeft: number) =>
    new DomainError('USER.PIN_INVALID', 'unauthorized', `Wrong PIN. ${attemptsLeft} attempt(s) left`, {
      attemptsLeft,
    }),
  pinLocked: (retryAfterSeconds: number) =>
    new DomainError(
      'USER.PIN_LOCKED',
      'locked',
      `Too many wrong PINs. Try again in ${Math.max(1, Math.ceil(retryAfterSeconds / 60))} minute(s)`,
      { retryAfterSeconds },
    ),
};
