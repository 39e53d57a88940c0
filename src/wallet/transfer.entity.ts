import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Generated,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { Account } from './account.entity.js';
import { bigintToNumber } from '../database/bigint.transformer.js';

export const TRANSFER_KINDS = [
  'deposit',
  'withdrawal_hold',
  'withdrawal_settle',
  'withdrawal_release',
  'loan_disbursement',
  'loan_repayment',
] as const;
export type TransferKind = (typeof TRANSFER_KINDS)[number];

/** An immutable movement of money from one account to another. Never updated, never deleted. */
@Entity('transfers')
@Check('CHK_transfers_amount_positive', `"amount" > 0`)
@Check('CHK_transfers_distinct_accounts', `"debit_account_id" <> "credit_account_id"`)
@Check(
  'CHK_transfers_kind',
  `"kind" IN ('deposit', 'withdrawal_hold', 'withdrawal_settle', 'withdrawal_release', 'loan_disbursement', 'loan_repayment')`,
)
@Index('IDX_transfers_debit_seq', ['debitAccountId', 'seq'])
@Index('IDX_transfers_credit_seq', ['creditAccountId', 'seq'])
@Index('IDX_transfers_loan', ['loanId'])
export class Transfer {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  /**
   * Commit-independent order of creation (transfers of one transaction share its timestamp):
   * histories sort on it.
   */
  @Index('UQ_transfers_seq', { unique: true })
  @Column({ type: 'bigint', transformer: bigintToNumber })
  @Generated('increment')
  seq!: number;

  /** Who asked for this movement, once: the same key never moves money twice. */
  @Index('UQ_transfers_idempotency_key', { unique: true })
  @Column({ name: 'idempotency_key', type: 'varchar', length: 200 })
  idempotencyKey!: string;

  @ManyToOne(() => Account, { nullable: false })
  @JoinColumn({ name: 'debit_account_id' })
  debitAccount?: Account;

  @Column({ name: 'debit_account_id', type: 'uuid' })
  debitAccountId!: string;

  @ManyToOne(() => Account, { nullable: false })
  @JoinColumn({ name: 'credit_account_id' })
  creditAccount?: Account;

  @Column({ name: 'credit_account_id', type: 'uuid' })
  creditAccountId!: string;

  @Column({ type: 'bigint', transformer: bigintToNumber })
  amount!: number;

  @Column({ type: 'varchar', length: 24 })
  kind!: TransferKind;

  /** The loan this movement belongs to, if any (the ledger stores it; it does not interpret it). */
  @Column({ name: 'loan_id', type: 'uuid', nullable: true })
  loanId!: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  /**
   * The id of the transaction that last wrote this row, set by a database trigger: the mobile
   * sync pull uses it as a cursor that never skips a row committed late (see SyncService.pull).
   */
  @Index()
  @Column({ name: 'change_xid', type: 'bigint', nullable: true, select: false, insert: false, update: false })
  changeXid?: string | null;
}
