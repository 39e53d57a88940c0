import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { bigintToNumber } from '../database/bigint.transformer.js';
import { User } from '../users/user.entity.js';
import type { LoanStatus } from './loan-state.js';

@Entity('loans')
@Check('CHK_loans_status', `"status" IN ('PENDING', 'ACTIVE', 'REPAID', 'DECLINED', 'CANCELLED', 'EXPIRED')`)
@Check('CHK_loans_parties', `"borrower_id" <> "lender_id"`)
@Check('CHK_loans_principal', `"principal" > 0`)
@Check('CHK_loans_repayment', `"repayment_per_deposit" > 0 AND "repayment_per_deposit" <= "principal"`)
@Check('CHK_loans_outstanding', `"outstanding" >= 0 AND "outstanding" <= "principal"`)
// REPAID exactly when nothing is outstanding.
@Check('CHK_loans_repaid', `("status" = 'REPAID') = ("outstanding" = 0)`)
@Index('IDX_loans_borrower_status', ['borrowerId', 'status', 'approvedAt'])
@Index('IDX_loans_lender_status', ['lenderId', 'status'])
@Index('IDX_loans_status_expires', ['status', 'expiresAt'])
// No second identical pending request to the same lender.
@Index('UQ_loans_pending_duplicate', ['borrowerId', 'lenderId', 'principal', 'repaymentPerDeposit'], {
  unique: true,
  where: `"status" = 'PENDING'`,
})
export class Loan {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @ManyToOne(() => User, { nullable: false })
  @JoinColumn({ name: 'borrower_id' })
  borrower?: User;

  @Column({ name: 'borrower_id', type: 'uuid' })
  borrowerId!: string;

  @ManyToOne(() => User, { nullable: false })
  @JoinColumn({ name: 'lender_id' })
  lender?: User;

  @Column({ name: 'lender_id', type: 'uuid' })
  lenderId!: string;

  @Column({ type: 'bigint', transformer: bigintToNumber })
  principal!: number;

  @Column({ name: 'repayment_per_deposit', type: 'bigint', transformer: bigintToNumber })
  repaymentPerDeposit!: number;

  /** principal − repayments; equal to the principal until the loan is repaid from. */
  @Column({ type: 'bigint', transformer: bigintToNumber })
  outstanding!: number;

  @Column({ type: 'varchar', length: 16, default: 'PENDING' })
  status!: LoanStatus;

  /** The client's idempotency key for the request (offline queue, mobile sync), if any. */
  @Index('UQ_loans_request_key', { unique: true })
  @Column({ name: 'request_key', type: 'varchar', length: 120, nullable: true })
  requestKey!: string | null;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;

  @Column({ name: 'approved_at', type: 'timestamptz', nullable: true })
  approvedAt!: Date | null;

  @Column({ name: 'closed_at', type: 'timestamptz', nullable: true })
  closedAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  /**
   * The id of the transaction that last wrote this row, set by a database trigger: the mobile
   * sync pull uses it as a cursor that never skips a row committed late (see SyncService.pull).
   */
  @Index()
  @Column({ name: 'change_xid', type: 'bigint', nullable: true, select: false, insert: false, update: false })
  changeXid?: string | null;
}
