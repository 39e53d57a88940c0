import { Check, Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

/**
 * pending → sending (a worker holds it until lease_until) → sent (the provider took it) →
 * delivered (the handset got it), rejected (the network refused it) or failed (undeliverable).
 * failed also ends a message the provider refused or that ran out of attempts; unknown ends a
 * message in doubt whose template may not be sent twice (in-doubt-policy.ts), for an operator.
 */
export const NOTIFICATION_STATUSES = [
  'pending',
  'sending',
  'sent',
  'delivered',
  'rejected',
  'failed',
  'unknown',
] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];

/**
 * The SMS outbox. A row is written in the same transaction as the change it reports, so a
 * committed change always has its message; the sender and the relay take it from here.
 */
@Entity('notifications')
@Check(
  'CHK_notifications_status',
  `"status" IN ('pending', 'sending', 'sent', 'delivered', 'rejected', 'failed', 'unknown')`,
)
@Index('IDX_notifications_status_created', ['status', 'createdAt'])
@Index('IDX_notifications_phone_created', ['phoneNumber', 'createdAt'])
@Index('IDX_notifications_provider_message_id', ['providerMessageId'])
export class Notification {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ name: 'phone_number', type: 'varchar', length: 12 })
  phoneNumber!: string;

  @Column({ type: 'varchar', length: 64 })
  template!: string;

  @Column({ type: 'varchar', length: 2 })
  language!: string;

  /** The rendered text, exactly as sent. */
  @Column({ type: 'text' })
  body!: string;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status!: NotificationStatus;

  /** Claims so far; each claim adds one, so a worker's writes name the claim they belong to. */
  @Column({ type: 'int', default: 0 })
  attempts!: number;

  /** While `sending`: until when the worker that claimed it holds it. Past it, the relay takes it up. */
  @Column({ name: 'lease_until', type: 'timestamptz', nullable: true })
  leaseUntil!: Date | null;

  /**
   * When the current claim's request was about to leave for the provider. Set: the message is in
   * doubt should the worker die before recording the answer. Unset: it never left.
   */
  @Column({ name: 'request_sent_at', type: 'timestamptz', nullable: true })
  requestSentAt!: Date | null;

  @Column({ name: 'last_error', type: 'text', nullable: true })
  lastError!: string | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  provider!: string | null;

  @Column({ name: 'provider_message_id', type: 'varchar', length: 128, nullable: true })
  providerMessageId!: string | null;

  /** The latest status Africa's Talking's delivery reports gave (Sent, Buffered, Success, Failed…). */
  @Column({ name: 'delivery_status', type: 'varchar', length: 32, nullable: true })
  deliveryStatus!: string | null;

  /** The report's failureReason (only on Rejected or Failed), e.g. DoNotDisturbRejection. */
  @Column({ name: 'delivery_failure_reason', type: 'varchar', length: 64, nullable: true })
  deliveryFailureReason!: string | null;

  @Column({ name: 'delivery_retry_count', type: 'int', nullable: true })
  deliveryRetryCount!: number | null;

  @Column({ name: 'delivery_network_code', type: 'varchar', length: 16, nullable: true })
  deliveryNetworkCode!: string | null;

  @Column({ name: 'delivery_reported_at', type: 'timestamptz', nullable: true })
  deliveryReportedAt!: Date | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  @Column({ name: 'sent_at', type: 'timestamptz', nullable: true })
  sentAt!: Date | null;
}
