import { Check, Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

export const SYNC_OUTCOMES = ['applied', 'rejected', 'conflict'] as const;
export type SyncOutcome = (typeof SYNC_OUTCOMES)[number];

/**
 * Every operation a mobile client pushed, by its client-generated id: the same id is applied once
 * and answered with its first result ever after.
 */
@Entity('sync_operations')
@Check('CHK_sync_operations_outcome', `"outcome" IN ('applied', 'rejected', 'conflict')`)
@Index('IDX_sync_operations_user', ['userId', 'createdAt'])
export class SyncOperation {
  @PrimaryColumn({ name: 'op_id', type: 'uuid' })
  opId!: string;

  @Column({ name: 'user_id', type: 'uuid' })
  userId!: string;

  @Column({ name: 'device_id', type: 'varchar', length: 100 })
  deviceId!: string;

  @Column({ type: 'varchar', length: 32 })
  type!: string;

  @Column({ type: 'varchar', length: 16 })
  outcome!: SyncOutcome;

  /** What the client was told: the loan, the rejection code, or the server's state on conflict. */
  @Column({ type: 'jsonb' })
  result!: Record<string, unknown>;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
