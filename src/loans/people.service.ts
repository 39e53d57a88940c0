import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Shillings } from '../common/money.js';
import { nairobiDayKey } from '../common/nairobi-clock.js';
import { toMsisdn } from '../common/phone-number.js';
import type { AppConfig } from '../config/app-config.js';
import { subjectTag } from '../redis/rate-limiter.js';
import { RedisScript } from '../redis/redis-script.js';
import { InjectRedis } from '../redis/redis.tokens.js';
import type { RedisClient } from '../redis/redis-connection.factory.js';

/**
 * A borrower's record as a lender sees it when deciding, and as the borrower sees their own:
 * computed from the loans at that moment (no second source of truth), aggregates only: never
 * another lender's name or number.
 */
export interface BorrowerRecord {
  /** Loans they were lent (approved at some point): repaid in full or still open. */
  loansTaken: number;
  /** Loans repaid in full, and their principal in shillings. */
  loansRepaid: number;
  repaidKsh: Shillings;
  /** Loans still open (ACTIVE), and what they owe on them to all their lenders now. */
  loansOpen: number;
  owesNow: Shillings;
  /** Requests of theirs that a lender declined, and that expired unanswered. */
  requestsDeclined: number;
  requestsExpired: number;
  /** When they first used Deni. */
  memberSince: Date;
}

/** What looking a number up tells the one who typed it (the borrower's typo guard). */
export type PersonLookup =
  /** Nobody by that number uses Deni yet (a request invites them by SMS). */
  | { kind: 'not-a-user' }
  /** A Deni user, with the name they may be shown (null: none known, or hidden from this viewer). */
  | { kind: 'user'; name: string | null }
  /** Over NAME_LOOKUPS_PER_DAY: nothing is said about the number, not even whether it is a user. */
  | { kind: 'limited' };

interface RecordRow {
  user_id: string;
  member_since: Date;
  loans_taken: number;
  loans_repaid: number;
  repaid_ksh: string;
  loans_open: number;
  owes_now: string;
  requests_declined: number;
  requests_expired: number;
}

/**
 * Counts one lookup of a number by a subscriber in the day's set of numbers they looked up.
 * KEYS[1] the day's set; ARGV[1] number; ARGV[2] limit; ARGV[3] TTL seconds.
 * 1 when the lookup is allowed (a number already looked up today always is), 0 when over the limit.
 */
const COUNT_LOOKUP = new RedisScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
`);

/** Two days: a day's set outlives its day wherever the clocks of the instances stand. */
const LOOKUP_TTL_SECONDS = 2 * 24 * 3600;

/**
 * People as others see them: the names one subscriber may be shown of others, and a borrower's
 * record. A name is shown to anyone unless its owner hid it; a hidden one only to people they
 * have dealt with: someone they asked for a loan, or lent to.
 */
@Injectable()
export class PeopleService {
  private readonly lookupsPerDay: number;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectRedis() private readonly redis: RedisClient,
    config: ConfigService<AppConfig, true>,
  ) {
    this.lookupsPerDay = config.get('loans', { infer: true }).nameLookupsPerDay;
  }

  /** The record of each of these borrowers, by user id (those that do not exist are left out), in one query. */
  async borrowerRecords(userIds: readonly string[]): Promise<Map<string, BorrowerRecord>> {
    const unique = [...new Set(userIds)];
    if (!unique.length) return new Map();
    const rows = await this.dataSource.query<RecordRow[]>(
      `SELECT u.id AS user_id, u.created_at AS member_since,
         count(l.id) FILTER (WHERE l.status IN ('ACTIVE', 'REPAID'))::int AS loans_taken,
         count(l.id) FILTER (WHERE l.status = 'REPAID')::int               AS loans_repaid,
         coalesce(sum(l.principal) FILTER (WHERE l.status = 'REPAID'), 0)  AS repaid_ksh,
         count(l.id) FILTER (WHERE l.status = 'ACTIVE')::int               AS loans_open,
         coalesce(sum(l.outstanding) FILTER (WHERE l.status = 'ACTIVE'), 0) AS owes_now,
         count(l.id) FILTER (WHERE l.status = 'DECLINED')::int             AS requests_declined,
         count(l.id) FILTER (WHERE l.status = 'EXPIRED')::int              AS requests_expired
       FROM users u LEFT JOIN loans l ON l.borrower_id = u.id
       WHERE u.id = ANY($1::uuid[])
       GROUP BY u.id`,
      [unique],
    );
    return new Map(
      rows.map((r) => [
        r.user_id,
        {
          loansTaken: r.loans_taken,
          loansRepaid: r.loans_repaid,
          repaidKsh: Number(r.repaid_ksh),
          loansOpen: r.loans_open,
          owesNow: Number(r.owes_now),
          requestsDeclined: r.requests_declined,
          requestsExpired: r.requests_expired,
          memberSince: r.member_since,
        },
      ]),
    );
  }

  /**
   * Of these subscribers, the ones whose name `viewerId` may see, with that name (their own,
   * else M-PESA's): hidden names only where the two have dealt with each other. One query.
   */
  async visibleNames(viewerId: string, userIds: readonly string[]): Promise<Map<string, string>> {
    const others = [...new Set(userIds)].filter((id) => id !== viewerId);
    if (!others.length) return new Map();
    const rows = await this.dataSource.query<{ id: string; name: string }[]>(
      `SELECT u.id, coalesce(u.name, u.mpesa_name) AS name
         FROM users u
        WHERE u.id = ANY($2::uuid[]) AND coalesce(u.name, u.mpesa_name) IS NOT NULL
          AND (NOT u.name_hidden OR ${DEALT_WITH})`,
      [viewerId, others],
    );
    return new Map(rows.map((r) => [r.id, r.name]));
  }

  /**
   * Who a number typed by `viewerId` is (a lender's, before a loan request), counted against
   * NAME_LOOKUPS_PER_DAY distinct numbers per Nairobi day: past it, nothing is said.
   */
  async lookup(viewerId: string, phoneNumber: string): Promise<PersonLookup> {
    const msisdn = toMsisdn(phoneNumber);
    const day = nairobiDayKey(Date.now());
    const allowed = await COUNT_LOOKUP.run(
      this.redis,
      [`people:lookups:${subjectTag(viewerId)}:${day}`],
      [msisdn, this.lookupsPerDay, LOOKUP_TTL_SECONDS],
    );
    if (Number(allowed) !== 1) return { kind: 'limited' };
    const [row] = await this.dataSource.query<{ id: string; name: string | null }[]>(
      `SELECT u.id, CASE WHEN NOT u.name_hidden OR ${DEALT_WITH} THEN coalesce(u.name, u.mpesa_name) END AS name
         FROM users u WHERE u.phone_number = $2`,
      [viewerId, msisdn],
    );
    return row ? { kind: 'user', name: row.name } : { kind: 'not-a-user' };
  }
}

/**
 * SQL: `u` (a subscriber) and $1 (the viewer) have dealt with each other: u asked the viewer for a
 * loan (whatever became of it), or u lent to the viewer (a request u approved).
 */
const DEALT_WITH = `EXISTS (
  SELECT 1 FROM loans d
   WHERE (d.borrower_id = u.id AND d.lender_id = $1::uuid)
      OR (d.lender_id = u.id AND d.borrower_id = $1::uuid AND d.approved_at IS NOT NULL))`;
