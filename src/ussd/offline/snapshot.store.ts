import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../../config/app-config.js';
import { LoansService } from '../../loans/loans.service.js';
import { InjectRedis } from '../../redis/redis.tokens.js';
import type { RedisClient } from '../../redis/redis-connection.factory.js';
import { UsersService } from '../../users/users.service.js';
import { WalletService } from '../../wallet/wallet.service.js';
import { toLoanView } from '../backend/online-backend.js';
import type { EntryView, LoanView, UssdUser } from '../backend/ussd-backend.js';

/** Newest loans and wallet entries kept: three pages of each at three a page, and then some. */
const SNAPSHOT_LOANS = 30;
const SNAPSHOT_ENTRIES = 9;
/**
 * Snapshots taken at once by this process. Each takes four queries in parallel: unbounded, under
 * load they held most of the pool (DB_POOL_SIZE) and pushed USSD steps past USSD_DB_DEADLINE_MS.
 */
const MAX_CONCURRENT_REFRESHES = 2;
const MAX_QUEUED_REFRESHES = 10_000;

/** What a subscriber can still see (and be checked against) while PostgreSQL is down. */
export interface UssdSnapshot {
  takenAt: number;
  /** hasPin only: the PIN is checked offline against OfflinePinCache, which every PIN change updates. */
  user: UssdUser & { hasPin: boolean };
  balance: number;
  owing: number;
  owed: number;
  /** Newest first, at most SNAPSHOT_LOANS. */
  loans: LoanView[];
  /** Newest first, at most SNAPSHOT_ENTRIES. */
  entries: EntryView[];
}

/**
 * Per-subscriber snapshots in Redis, for offline reads. Taken in the background after good online
 * requests (at most once per USSD_SNAPSHOT_REFRESH_SECONDS per subscriber, and always after a
 * write), so the reply never waits for it. No PIN material: whether there is a PIN, that's all.
 */
@Injectable()
export class UssdSnapshotStore {
  private readonly logger = new Logger(UssdSnapshotStore.name);
  private readonly ttlSeconds: number;
  private readonly refreshMs: number;
  /** When each subscriber's snapshot was last started here (a cheap local debounce). */
  private readonly lastRefresh = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  /** Refreshes after a write that found every slot taken, started as slots free up (oldest first). */
  private readonly queued = new Map<string, UssdUser>();

  constructor(
    @InjectRedis() private readonly redis: RedisClient,
    private readonly users: UsersService,
    private readonly loans: LoansService,
    private readonly wallet: WalletService,
    config: ConfigService<AppConfig, true>,
  ) {
    const ussd = config.get('ussd', { infer: true });
    this.ttlSeconds = ussd.snapshotTtlHours * 3600;
    this.refreshMs = ussd.snapshotRefreshSeconds * 1000;
  }

  private key(msisdn: string): string {
    return `ussd:snapshot:${msisdn}`;
  }

  async get(msisdn: string): Promise<UssdSnapshot | null> {
    const raw = await this.redis.get(this.key(msisdn));
    return raw ? (JSON.parse(raw) as UssdSnapshot) : null;
  }

  /** Starts a refresh in the background unless one ran recently (`force` after a write). */
  refreshSoon(user: UssdUser, force = false): void {
    const now = Date.now();
    if (!force && now - (this.lastRefresh.get(user.id) ?? 0) < this.refreshMs) return;
    if (this.inFlight.has(user.id)) {
      // One may have read before this write: take another once it is done.
      if (force) this.again.add(user.id);
      return;
    }
    if (this.inFlight.size >= MAX_CONCURRENT_REFRESHES) {
      // Background work must not take the database pool from the requests being answered:
      // a routine refresh waits for this subscriber's next request; one after a write is queued.
      if (force) {
        // Bounded: under a long burst the oldest waiting refresh gives way (that subscriber's
        // next step takes one anyway).
        if (this.queued.size >= MAX_QUEUED_REFRESHES) this.queued.delete(this.queued.keys().next().value!);
        this.queued.set(user.id, user);
      }
      return;
    }
    this.lastRefresh.set(user.id, now);
    if (this.lastRefresh.size > 100_000) this.lastRefresh.clear(); // bounded memory; only a debounce
    const run = this.refresh(user)
      .catch((err: unknown) => this.logger.debug({ err }, 'snapshot not refreshed'))
      .finally(() => {
        this.inFlight.delete(user.id);
        if (this.again.delete(user.id)) this.refreshSoon(user, true);
        const next = this.queued.entries().next();
        if (!next.done && this.inFlight.size < MAX_CONCURRENT_REFRESHES) {
          this.queued.delete(next.value[0]);
          this.refreshSoon(next.value[1], true);
        }
      });
    this.inFlight.set(user.id, run);
  }

  /** Takes the snapshot now. */
  async refresh(user: UssdUser): Promise<void> {
    const takenAt = Date.now();
    const [hasPin, summary, loans, history] = await Promise.all([
      this.users.hasPin(user.id),
      this.loans.summary(user.id),
      this.loans.listForUser(user.id, { role: 'any', limit: SNAPSHOT_LOANS }),
      this.wallet.history(user.id, { limit: SNAPSHOT_ENTRIES }),
    ]);
    const snapshot: UssdSnapshot = {
      takenAt,
      user: { id: user.id, phoneNumber: user.phoneNumber, language: user.language, hasPin },
      balance: summary.balance,
      owing: summary.owing,
      owed: summary.owed,
      loans: loans.items.map((loan) => toLoanView(loan, user.id)),
      entries: history.items.map((entry) => ({
        at: entry.createdAt.getTime(),
        kind: entry.kind,
        amount: entry.amount,
      })),
    };
    await this.redis.set(this.key(user.phoneNumber), JSON.stringify(snapshot), 'EX', this.ttlSeconds);
  }

  /** Waits for refreshes under way (tests, shutdown). */
  async settle(): Promise<void> {
    while (this.inFlight.size) await Promise.all(this.inFlight.values());
  }
}
