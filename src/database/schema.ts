import { Loan } from '../loans/loan.entity.js';
import { MpesaPayment } from '../mpesa/mpesa-payment.entity.js';
import { Notification } from '../notifications/notification.entity.js';
import { SyncOperation } from '../sync/sync-operation.entity.js';
import { User } from '../users/user.entity.js';
import { Account } from '../wallet/account.entity.js';
import { Transfer } from '../wallet/transfer.entity.js';
import { LedgerAndLoans1795337494178 } from './migrations/1795337494178-LedgerAndLoans.js';
import { SyncChanges1795340824671 } from './migrations/1795340824671-SyncChanges.js';
import { Foundation1795335999651 } from './migrations/1795335999651-Foundation.js';
import { MpesaPayments1795344793301 } from './migrations/1795344793301-MpesaPayments.js';
import { MpesaNeedsReview1795352417027 } from './migrations/1795352417027-MpesaNeedsReview.js';
import { MpesaPaymentReview1795358203114 } from './migrations/1795358203114-MpesaPaymentReview.js';
import { MpesaStatusQueries1795366127544 } from './migrations/1795366127544-MpesaStatusQueries.js';
import { MpesaResolutionAndStatusAnswers1795374412907 } from './migrations/1795374412907-MpesaResolutionAndStatusAnswers.js';
import { MpesaCallbackMismatches1795382016440 } from './migrations/1795382016440-MpesaCallbackMismatches.js';
import { SmsDeliveryReports1795382100000 } from './migrations/1795382100000-SmsDeliveryReports.js';

/**
 * Every entity and migration, listed explicitly: the same list works from the build, under Jest
 * and in the TypeORM CLI, with no file globbing. A new migration from `npm run
 * migration:generate` is added here (a test fails when the schema and the entities disagree).
 */
export const ENTITIES = [User, Notification, Account, Transfer, Loan, SyncOperation, MpesaPayment];
export const MIGRATIONS = [
  Foundation1795335999651,
  LedgerAndLoans1795337494178,
  SyncChanges1795340824671,
  MpesaPayments1795344793301,
  MpesaNeedsReview1795352417027,
  MpesaPaymentReview1795358203114,
  MpesaStatusQueries1795366127544,
  MpesaResolutionAndStatusAnswers1795374412907,
  MpesaCallbackMismatches1795382016440,
  SmsDeliveryReports1795382100000,
];
