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
import { ClearingShards1795390417000 } from './migrations/1795390417000-ClearingShards.js';
import { SmsSendLeases1795398000000 } from './migrations/1795398000000-SmsSendLeases.js';
import { UserNames1795406000000 } from './migrations/1795406000000-UserNames.js';

/**
 * Every migration, listed explicitly: the same list works from the build, under Jest and in the
 * TypeORM CLI, with no file globbing. A new migration from `npm run migration:generate` is added
 * here (a test fails when the schema and the entities disagree). Entities are not listed here:
 * each module registers its own (TypeOrmModule.forFeature), and src/entities.ts names them all
 * for the CLI.
 */
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
  ClearingShards1795390417000,
  SmsSendLeases1795398000000,
  UserNames1795406000000,
];
