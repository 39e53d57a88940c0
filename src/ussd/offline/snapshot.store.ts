import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../../config/app-config.js';
import { LoansService } from '../../loans/loans.service.js';
import { RedisScript } from '../../redis/redis-script.js';
import { InjectRedis } from '../../redis/redis.tokens.js';
import type { RedisClient } from '../../redis/redis-connection.factory.js';
import { SubscriberChanges } from '../../users/subscriber-changes.js';
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

/**
 * Stores a snapshot unless the one stored was started later: a refresh that read before a write and
 * finishes after the refresh that followed the write must not put the older picture back. "Later"
 * is the subscriber's snapshot sequence (NEXT_SEQ), taken from Redis before reading, so instances
 * whose clocks disagree still agree on the order. Every snapshot's JSON starts with its seq.
 * KEYS[1] snapshot; ARGV[1] seq; ARGV[2] snapshot JSON; ARGV[3] TTL seconds. 1 if stored.
 */
const STORE_IF_NEWER = new RedisScript(`
local stored = redis.call('GET', KEYS[1])
if stored then
  local seq = tonumber(string.match(stored, '^{"seq":(%d+)'))
  if seq and seq > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
`);

/**
 * The next number of a subscriber's snapshot sequence, kept a little longer than a snapshot lives.
 * KEYS[1] sequence; ARGV[1] TTL seconds.
 */
const NEXT_SEQ = new RedisScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return n
`);

/** What a subscriber can still see (and be checked against) while PostgreSQL is down. */
export interface UssdSnapshot {
  /** The subscriber's snapshot sequence when this one was started (orders snapshots across instances). */
  seq: number;
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
 * Per-subscriber snapshots in Redis, for offline reads. Two ways in:
 * - after every write that changes what a snapshot holds, whatever channel made it (USSD, REST,
 *   the sync API, the offline queue, the expiry job, M-PESA money): the writer reports the
 *   subscribers it changed through SubscriberChanges, and this store, listening, takes both
 *   parties' snapshots at once before the write returns, so its reply is sent on an up-to-date
 *   snapshot (an outage a moment later finds the write there: a first PIN, a request just made);
 * - after good online USSD reads, in the background and bounded (at most once per
 *   USSD_SNAPSHOT_REFRESH_SECONDS per subscriber), so a reply never waits for those.
 * A snapshot never replaces one taken after it. No PIN material: whether there is a PIN, that's all.
 */
@Injectable()
export class UssdSnapshotStore implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(UssdSnapshotStore.name);
  private readonly ttlSeconds: number;
  private readonly refreshMs: number;
  /** When each subscriber's snapshot was last started here (a cheap local debounce). */
  private readonly lastRefresh = new Map<string, number>();
  /** Background refreshes under way here. */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** How long a write waits for its snapshots before replying (they finish in the background after). */
  private readonly writeWaitMs: number;
  /** Snapshots after writes that outlived their write's wait, still under way here. */
  private readonly afterWrites = new Set<Promise<void>>();
  private unlisten: () => void = () => undefined;

  constructor(
    @InjectRedis() private readonly redis: RedisClient,
    private readonly changes: SubscriberChanges,
    private readonly users: UsersService,
    private readonly loans: LoansService,
    private readonly wallet: WalletService,
    config: ConfigService<AppConfig, true>,
  ) {
    const ussd = config.get('ussd', { infer: true });
    this.ttlSeconds = ussd.snapshotTtlHours * 3600;
    this.refreshMs = ussd.snapshotRefreshSeconds * 1000;
    // A USSD write must still answer within USSD_DB_DEADLINE_MS, its own queries included: past
    // the deadline a committed step would be answered again offline ("saved", when it was done).
    this.writeWaitMs = Math.floor(ussd.dbDeadlineMs / 4);
  }

  onModuleInit(): void {
    this.unlisten = this.changes.listen((userIds) => this.refreshNow(userIds));
  }

  onModuleDestroy(): void {
    this.unlisten();
  }

  private key(msisdn: string): string {
    return `ussd:snapshot:${msisdn}`;
  }

  async get(msisdn: string): Promise<UssdSnapshot | null> {
    const raw = await this.redis.get(this.key(msisdn));
    return raw ? (JSON.parse(raw) as UssdSnapshot) : null;
  }

  /**
   * Takes a snapshot in the background, unless one was taken in the last
   * USSD_SNAPSHOT_REFRESH_SECONDS or this process is taking MAX_CONCURRENT_REFRESHES already:
   * background work must not take the database pool from the requests being answered (this
   * subscriber's next request tries again).
   */
  refreshSoon(userId: string): void {
    const now = Date.now();
    if (now - (this.lastRefresh.get(userId) ?? 0) < this.refreshMs) return;
    if (this.inFlight.has(userId) || this.inFlight.size >= MAX_CONCURRENT_REFRESHES) return;
    this.refreshed(userId, now);
    const run = this.refresh(userId)
      .catch((err: unknown) => this.logger.debug({ err }, 'snapshot not refreshed'))
      .finally(() => this.inFlight.delete(userId));
    this.inFlight.set(userId, run);
  }

  /**
   * The first snapshot of someone registered just now, who has nothing yet (no PIN, no money, no
   * loans): written with no query, in the background, and only where no snapshot exists. Its seq
   * is 0, below any refresh's, so a snapshot taken after something of theirs changed is never
   * replaced by it, and replaces it.
   */
  storeFirst(user: UssdUser): void {
    const snapshot: UssdSnapshot = {
      seq: 0,
      takenAt: Date.now(),
      user: { ...user, hasPin: false },
      balance: 0,
      owing: 0,
      owed: 0,
      loans: [],
      entries: [],
    };
    this.refreshed(user.id, snapshot.takenAt);
    const run = STORE_IF_NEWER.run(
      this.redis,
      [this.key(user.phoneNumber)],
      [0, JSON.stringify(snapshot), this.ttlSeconds],
    )
      .then(() => undefined)
      .catch((err: unknown) => this.logger.debug({ err }, 'first snapshot not stored'));
    this.afterWrites.add(run);
    void run.finally(() => this.afterWrites.delete(run));
  }

  /**
   * After a write: these subscribers' snapshots, taken now (at once) and awaited, so the write's
   * reply goes out once they are stored. Not bounded like refreshSoon: it is part of the request
   * that wrote, like its other queries; but a write waits at most a quarter of
   * USSD_DB_DEADLINE_MS for them (a slow database must not turn a done write into an answer from
   * the offline path), and they finish in the background after that. Skipped while Redis is not
   * ready (nowhere to store them). Never throws: the write is committed whatever happens here.
   */
  async refreshNow(userIds: readonly string[]): Promise<void> {
    if (this.redis.status !== 'ready') return;
    const work = this.takeNow(userIds);
    let timer: NodeJS.Timeout | undefined;
    const waited = await Promise.race([
      work.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.writeWaitMs))),
    ]);
    clearTimeout(timer);
    if (waited) return;
    this.afterWrites.add(work);
    void work.finally(() => this.afterWrites.delete(work));
  }

  private async takeNow(userIds: readonly string[]): Promise<void> {
    const unique = [...new Set(userIds)];
    // Fresh as of now: a routine refresh of these subscribers can wait its usual time.
    for (const id of unique) this.refreshed(id, Date.now());
    try {
      await this.refreshAll(unique);
    } catch (err) {
      // Redis or PostgreSQL just went away: offline reads show the previous snapshots (with their
      // time) until the next ones; the write itself is done.
      this.logger.warn({ err, userIds: unique }, 'snapshots not updated after a write');
    }
  }

  private refreshed(userId: string, at: number): void {
    this.lastRefresh.set(userId, at);
    if (this.lastRefresh.size > 100_000) this.lastRefresh.clear(); // bounded memory; only a debounce
  }

  /**
   * Takes the subscriber's snapshot now: who they are (number, language, whether they have a PIN),
   * balances, loans and latest entries, read at once, all from the database.
   */
  async refresh(userId: string): Promise<void> {
    await this.refreshAll([userId]);
  }

  /**
   * refresh() for several subscribers at once (the parties to one write): the same reads, each
   * made once for all of them, so the queries do not grow with their number.
   */
  private async refreshAll(userIds: readonly string[]): Promise<void> {
    // Taken before reading: anything committed before them is in the snapshot.
    const seqs = await Promise.all(
      userIds.map(async (id) =>
        Number(await NEXT_SEQ.run(this.redis, [`ussd:snapshot-seq:${id}`], [this.ttlSeconds + 3600])),
      ),
    );
    const takenAt = Date.now();
    const [profiles, summaries, loans, entries] = await Promise.all([
      this.users.profiles(userIds),
      this.loans.summaries(userIds),
      this.loans.latestForUsers(userIds, SNAPSHOT_LOANS),
      this.wallet.latestEntries(userIds, SNAPSHOT_ENTRIES),
    ]);
    await Promise.all(
      userIds.map(async (userId, i) => {
        const profile = profiles.get(userId);
        const summary = summaries.get(userId);
        // Nobody by that id (never the case for a party to a write): nothing to store.
        if (!profile || !summary) return;
        const { phoneNumber, language, hasPin } = profile;
        // seq first: STORE_IF_NEWER reads it from the start of the JSON.
        const snapshot: UssdSnapshot = {
          seq: seqs[i],
          takenAt,
          user: { id: userId, phoneNumber, language, hasPin },
          balance: summary.balance,
          owing: summary.owing,
          owed: summary.owed,
          loans: (loans.get(userId) ?? []).map((loan) => toLoanView(loan, userId)),
          entries: (entries.get(userId) ?? []).map((entry) => ({
            at: entry.createdAt.getTime(),
            kind: entry.kind,
            amount: entry.amount,
          })),
        };
        await STORE_IF_NEWER.run(
          this.redis,
          [this.key(phoneNumber)],
          [seqs[i], JSON.stringify(snapshot), this.ttlSeconds],
        );
      }),
    );
  }

  /** Waits for background refreshes under way (tests, shutdown). */
  async settle(): Promise<void> {
    while (this.inFlight.size || this.afterWrites.size)
      await Promise.all([...this.inFlight.values(), ...this.afterWrites]);
  }
}
