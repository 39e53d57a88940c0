import { Loan } from './loans/loan.entity.js';
import { MpesaPayment } from './mpesa/mpesa-payment.entity.js';
import { Notification } from './notifications/notification.entity.js';
import { SyncOperation } from './sync/sync-operation.entity.js';
import { User } from './users/user.entity.js';
import { Account } from './wallet/account.entity.js';
import { Transfer } from './wallet/transfer.entity.js';

/**
 * Every entity, for what runs outside the Nest application: the TypeORM CLI (ormconfig.ts) and
 * tests that open a DataSource of their own. The application does not read this list: each module
 * registers its entities with TypeOrmModule.forFeature (a test checks the two agree).
 */
export const ENTITIES = [User, Notification, Account, Transfer, Loan, SyncOperation, MpesaPayment];
