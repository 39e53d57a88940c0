import { Check, Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { bigintToNumber } from '../database/bigint.transformer.js';

export const ACCOUNT_KINDS = ['user_wallet', 'system'] as const;
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

/**
 * System accounts: the other side of money entering or leaving Deni. One may be spread over
 * several rows (its shards, numbered from 0), so that operations on different wallets do not all
 * lock the same row; the account's balance is the sum of its rows'.
 */
export enum SystemAccount {
  /**
   * Counterparty of M-PESA: debited by deposits (goes negative), credited when payouts settle.
   * Spread over shards: each deposit debits the one its wallet maps to (docs/money.md#m-pesa-clearing-spread-over-rows).
   */
  MpesaClearing = 'mpesa_clearing',
  /** Holds a withdrawal between the request and M-PESA's answer. */
  WithdrawalsPending = 'withdrawals_pending',
}

@Entity('accounts')
@Check('CHK_accounts_kind', `"kind" IN ('user_wallet', 'system')`)
// A user's wallet never goes below zero: enforced by the database, not only by the code.
@Check('CHK_accounts_wallet_not_negative', `"kind" <> 'user_wallet' OR "balance" >= 0`)
@Check(
  'CHK_accounts_owner',
  `("kind" = 'user_wallet') = ("user_id" IS NOT NULL) AND ("kind" = 'system') = ("code" IS NOT NULL)`,
)
@Check('CHK_accounts_shard', `"shard" >= 0 AND ("kind" = 'system' OR "shard" = 0)`)
@Index('UQ_accounts_code_shard', ['code', 'shard'], { unique: true })
export class Account {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'varchar', length: 16 })
  kind!: AccountKind;

  @Index('UQ_accounts_user', { unique: true })
  @Column({ name: 'user_id', type: 'uuid', nullable: true })
  userId!: string | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  code!: SystemAccount | null;

  /** Which row of its system account this is (0 for a wallet, and for the first row). */
  @Column({ type: 'smallint', default: 0 })
  shard!: number;

  /** Credits minus debits, kept in step by the ledger in the same transaction as each transfer. */
  @Column({ type: 'bigint', default: 0, transformer: bigintToNumber })
  balance!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
