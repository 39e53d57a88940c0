import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { Notification, type NotificationStatus } from './notification.entity.js';

/** One worker's hold on a row: `attempt` is the row's claim count, which names the claim. */
export interface Claim {
  id: string;
  phoneNumber: string;
  body: string;
  template: string;
  attempt: number;
}

/** A row the relay took back from a worker that stopped: sent again (`pending`) or `unknown`. */
export interface TakenUp {
  id: string;
  template: string;
  status: Extract<NotificationStatus, 'pending' | 'unknown'>;
  attempt: number;
  /** Set: the request may have left, so the message was in doubt. */
  requestSentAt: Date | null;
}

/** What the provider's answer says, for the row. */
export interface SentFields {
  provider: string;
  providerMessageId: string;
  /** Replaces the text (a one-time code masked once it left); undefined keeps it. */
  body?: string;
}

/** A lease from now, in SQL; the lease length is the `:leaseSecs` parameter. */
const LEASE_FROM_NOW = `now() + make_interval(secs => :leaseSecs)`;

/**
 * Rows written before leases (or by an instance of that time during an upgrade) have none: they
 * count as held for the five minutes the relay used to wait, and as possibly sent.
 */
const LEASE_END = `COALESCE(lease_until, updated_at + interval '5 minutes')`;
const MAY_HAVE_LEFT = `(request_sent_at IS NOT NULL OR lease_until IS NULL)`;

/**
 * Every read and conditional write of the outbox's sending side. Each write after a claim names
 * the claim (`attempts`), so a worker whose row was taken up and claimed again changes nothing.
 */
@Injectable()
export class OutboxRepository {
  constructor(@InjectRepository(Notification) private readonly rows: Repository<Notification>) {}

  /** Takes a `pending` row for one attempt, held for `leaseMs`; null when it is not pending. */
  async claim(id: string, leaseMs: number): Promise<Claim | null> {
    const result = await this.rows
      .createQueryBuilder()
      .update(Notification)
      .set({
        status: 'sending',
        attempts: () => 'attempts + 1',
        leaseUntil: () => LEASE_FROM_NOW,
        requestSentAt: null,
      })
      .where(`id = :id AND status = 'pending'`, { id, leaseSecs: leaseMs / 1000 })
      .returning(['id', 'phoneNumber', 'body', 'template', 'attempts'])
      .execute();
    const [row] = result.raw as
      { id: string; phone_number: string; body: string; template: string; attempts: number }[] | [];
    return row
      ? { id: row.id, phoneNumber: row.phone_number, body: row.body, template: row.template, attempt: row.attempts }
      : null;
  }

  /**
   * Notes that the claim's request is about to leave, and holds the row for `leaseMs` more (as
   * long as the send may take). False when the claim's lease ran out first: the relay may have
   * taken the row up, so this worker must not send it.
   */
  async markRequestSent(claim: Claim, leaseMs: number): Promise<boolean> {
    const result = await this.rows
      .createQueryBuilder()
      .update(Notification)
      .set({ requestSentAt: () => 'now()', leaseUntil: () => LEASE_FROM_NOW })
      .where(`id = :id AND status = 'sending' AND attempts = :attempt AND lease_until > now()`, {
        id: claim.id,
        attempt: claim.attempt,
        leaseSecs: leaseMs / 1000,
      })
      .execute();
    return (result.affected ?? 0) > 0;
  }

  /**
   * Records that the provider took the message. A late answer still counts when the relay has
   * meanwhile marked the row `unknown` or put it back to `pending`, as long as nobody claimed it
   * again. False when the row was claimed again.
   */
  async recordSent(claim: Claim, fields: SentFields): Promise<boolean> {
    const result = await this.rows
      .createQueryBuilder()
      .update(Notification)
      .set({
        status: 'sent',
        sentAt: () => 'now()',
        provider: fields.provider,
        providerMessageId: fields.providerMessageId,
        lastError: null,
        leaseUntil: null,
        ...(fields.body !== undefined ? { body: fields.body } : {}),
      })
      .where(`id = :id AND attempts = :attempt AND status IN ('sending', 'pending', 'unknown')`, {
        id: claim.id,
        attempt: claim.attempt,
      })
      .execute();
    return (result.affected ?? 0) > 0;
  }

  /** Ends the claim without a send: back to `pending` for a retry, `failed`, or `unknown`. */
  async recordOutcome(
    claim: Claim,
    status: Extract<NotificationStatus, 'pending' | 'failed' | 'unknown'>,
    lastError: string,
    provider: string,
  ): Promise<boolean> {
    const result = await this.rows
      .createQueryBuilder()
      .update(Notification)
      .set({ status, lastError, provider, leaseUntil: null })
      .where(`id = :id AND attempts = :attempt AND status = 'sending'`, { id: claim.id, attempt: claim.attempt })
      .execute();
    return (result.affected ?? 0) > 0;
  }

  /**
   * Takes back rows whose worker's lease ran out (it stopped, or lost the database). A row whose
   * request never left goes back to `pending`; one whose request may have left is in doubt, and
   * goes back to `pending` only when its template is in `resend`, else to `unknown`. One UPDATE,
   * conditional on the lease, so two relays never take the same row.
   */
  async takeUpExpiredLeases(resend: readonly string[], inDoubtNote: string, limit: number): Promise<TakenUp[]> {
    const sendAgain = `(NOT ${MAY_HAVE_LEFT} OR template = ANY(:resend))`;
    const result = await this.rows
      .createQueryBuilder()
      .update(Notification)
      .set({
        status: () => `CASE WHEN ${sendAgain} THEN 'pending' ELSE 'unknown' END`,
        lastError: () => `CASE WHEN ${MAY_HAVE_LEFT} THEN :inDoubtNote ELSE last_error END`,
        leaseUntil: null,
      })
      // The outer condition is checked again on the row as it is once locked; SKIP LOCKED lets a
      // second relay take other rows rather than wait for these.
      .where(
        `status = 'sending' AND ${LEASE_END} < now() AND id IN (SELECT id FROM notifications WHERE status = 'sending' AND ${LEASE_END} < now() LIMIT :limit FOR UPDATE SKIP LOCKED)`,
        { limit },
      )
      .setParameters({ resend: [...resend], inDoubtNote })
      .returning(['id', 'template', 'status', 'attempts', 'requestSentAt'])
      .execute();
    return (
      result.raw as {
        id: string;
        template: string;
        status: TakenUp['status'];
        attempts: number;
        request_sent_at: Date | null;
      }[]
    ).map((r) => ({
      id: r.id,
      template: r.template,
      status: r.status,
      attempt: r.attempts,
      requestSentAt: r.request_sent_at,
    }));
  }

  /** Rows never handed to the queue (the process died between commit and enqueue), oldest first. */
  async neverQueued(olderThanMs: number, limit: number): Promise<string[]> {
    const rows = await this.rows
      .createQueryBuilder('n')
      .select('n.id', 'id')
      .where(`n.status = 'pending' AND n.attempts = 0 AND n.created_at < now() - make_interval(secs => :secs)`, {
        secs: olderThanMs / 1000,
      })
      .orderBy('n.created_at', 'ASC')
      .limit(limit)
      .getRawMany<{ id: string }>();
    return rows.map((r) => r.id);
  }

  /** Newest first: a number's messages, messages in one status, or a number's in one status. */
  list(filter: { phoneNumber?: string; status?: NotificationStatus }, limit: number): Promise<Notification[]> {
    return this.rows.find({
      where: {
        ...(filter.phoneNumber !== undefined ? { phoneNumber: filter.phoneNumber } : {}),
        ...(filter.status !== undefined ? { status: filter.status } : {}),
      },
      order: { createdAt: 'DESC' },
      take: limit,
    });
  }
}
