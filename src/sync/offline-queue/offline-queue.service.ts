import { createHmac, randomUUID } from 'node:crypto';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { uuidFrom } from '../../common/ids.js';
import type { AppConfig } from '../../config/app-config.js';
import { DatabaseAvailability } from '../../database/database-availability.js';
import { TransactionService, type Tx } from '../../database/transaction.service.js';
import { NotificationsService } from '../../notifications/notifications.service.js';
import type { OfflineAction } from '../../notifications/templates.js';
import { JobsService } from '../../queues/jobs.service.js';
import { JobName, QueueName } from '../../queues/queue-names.js';
import { InjectRedis } from '../../redis/redis.tokens.js';
import type { RedisClient } from '../../redis/redis-connection.factory.js';
import type { SyncOperationType, SyncResult } from '../sync.types.js';
import { SyncService, type SyncOperationInput } from '../sync.service.js';
import { withdrawalIdFor } from '../../mpesa/mpesa.rules.js';
import { WithdrawalService } from '../../mpesa/withdrawal.service.js';
import type { Language } from '../../common/language.js';

export type OfflineItemStatus = 'pending' | 'applied' | 'rejected' | 'conflict' | 'expired';

/** A write accepted by USSD while PostgreSQL was down. Never holds PIN material. */
export interface OfflineItem {
  /** The short reference the subscriber was given; also the job id. */
  id: string;
  type: OfflineAction;
  phoneNumber: string;
  userId: string;
  language: Language;
  /** What to apply: lenderPhoneNumber, amount, repaymentPerDeposit / loanId, amount. */
  data: Record<string, string | number>;
  queuedAt: number;
  /** The USSD action's idempotency key: the same write started online is the same write. */
  key: string;
  /** Recorded in sync_operations under this id, so the outcome is kept (and told) once. */
  opId: string;
}

export interface OfflineItemState extends OfflineItem {
  status: OfflineItemStatus;
  synced: boolean;
  attempts: number;
  lastError: string | null;
  syncedAt: number | null;
}

export interface SyncRun {
  success: boolean;
  synced: number;
  total: number;
  errors: { id: string; error: string }[];
}

const SYNC_TYPES: Record<OfflineAction, SyncOperationType | 'wallet.withdraw'> = {
  LOAN_REQUEST: 'loan.request',
  LOAN_APPROVAL: 'loan.approve',
  LOAN_DECLINE: 'loan.decline',
  REPAYMENT: 'loan.repay',
  WITHDRAWAL: 'wallet.withdraw',
};

/** Items and their index are kept this long after their last change. */
const RETENTION_SECONDS = 7 * 24 * 3600;
/** The code an item closed for running out of time is recorded with. */
const EXPIRED = 'OFFLINE.EXPIRED';
/**
 * How long an item's lock lives unless renewed. The process applying the item renews it every
 * third of that while it works (a withdrawal waits for Daraja), so a second process never takes
 * over an item still being applied, and one that died applying it leaves the item to the others
 * within seconds instead of holding that phone's writes.
 */
export const OFFLINE_ITEM_LOCK_MS = 10_000;
/** Crockford's base32 without look-alikes: easy to read out over the phone. */
const REFERENCE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Thrown when an item cannot be tried now (the database is down, another process has it). */
export class OfflineItemNotReady extends Error {
  constructor(
    reason: string,
    /** Another process holds the item: worth trying again in a moment, not after a backoff. */
    readonly busy = false,
  ) {
    super(reason);
    this.name = 'OfflineItemNotReady';
  }
}

const RENEW_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * The offline write queue (the seed's "Offline Mode"): writes USSD accepted while PostgreSQL was
 * down, kept in sync beside the mobile sync API they are applied through. An item is written to
 * Redis (its record and the phone's index) and put on a BullMQ queue under its reference, so a
 * retried request queues once.
 * Applying goes through SyncService.applyOnce: the write's own idempotency key keeps the money
 * right, the sync_operations row keeps the outcome and its SMS once. A business refusal closes the
 * item; an unreachable database leaves it for the next attempt (exponential backoff, up to
 * OFFLINE_RETRY_HOURS, then it is closed as expired). When the database comes back, waiting
 * items are promoted at once.
 */
@Injectable()
export class OfflineQueueService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(OfflineQueueService.name);
  private readonly settings: AppConfig['offline'];
  private readonly pepper: string;
  private unsubscribe: () => void = () => undefined;

  constructor(
    @InjectRedis() private readonly redis: RedisClient,
    private readonly jobs: JobsService,
    private readonly sync: SyncService,
    private readonly notifications: NotificationsService,
    private readonly database: DatabaseAvailability,
    private readonly withdrawals: WithdrawalService,
    private readonly transactions: TransactionService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('offline', { infer: true });
    this.pepper = config.get('security', { infer: true }).pinPepper;
  }

  onApplicationBootstrap(): void {
    // Items waiting out a backoff need not wait any longer once the database is back.
    this.unsubscribe = this.database.onRecovered(() => {
      this.jobs
        .queue(QueueName.UssdOffline)
        .promoteJobs()
        .catch((err: unknown) => this.logger.warn({ err }, 'could not promote offline items'));
    });
  }

  onApplicationShutdown(): void {
    this.unsubscribe();
  }

  private itemKey(id: string): string {
    return `offline:item:${id}`;
  }

  private indexKey(phoneNumber: string): string {
    return `offline:phone:${phoneNumber}`;
  }

  /** The reference for an action: short, readable, and the same for the same action key. */
  referenceFor(key: string): string {
    const digest = createHmac('sha256', this.pepper).update(`offline-ref:${key}`).digest();
    let ref = '';
    for (let i = 0; i < 10; i += 1) ref += REFERENCE_ALPHABET[(digest[i] ?? 0) % 32];
    return ref;
  }

  /** Queues a write (once per action key) and returns its reference. */
  async enqueue(input: Omit<OfflineItem, 'id' | 'queuedAt' | 'opId'>): Promise<string> {
    const id = this.referenceFor(input.key);
    const item: OfflineItem = { ...input, id, queuedAt: Date.now(), opId: uuidFrom(`offline:${input.key}`) };
    const key = this.itemKey(id);
    const index = this.indexKey(item.phoneNumber);
    // Every field only if absent: a retried request finds the item as it is.
    await this.redis
      .multi()
      .hsetnx(key, 'item', JSON.stringify(item))
      .hsetnx(key, 'status', 'pending')
      .hsetnx(key, 'attempts', '0')
      .expire(key, this.settings.retryHours * 3600 + RETENTION_SECONDS)
      .zadd(index, 'NX', item.queuedAt, id)
      .expire(index, this.settings.retryHours * 3600 + RETENTION_SECONDS)
      .exec();
    await this.jobs.add(
      JobName.ApplyOfflineItem,
      { id, firstDelayMs: this.settings.firstDelayMs, maxDelayMs: this.settings.maxDelayMs },
      // Retried until it is applied, refused or too old (the processor decides); the job id makes
      // a second add of the same item a no-op.
      { jobId: this.jobId(id), attempts: 1_000_000, backoff: { type: 'offline' }, removeOnComplete: { age: 3600 } },
    );
    this.logger.log({ id, type: item.type }, 'write queued offline');
    return id;
  }

  private jobId(id: string): string {
    return `offline-${id}`;
  }

  async get(id: string): Promise<OfflineItemState | null> {
    const fields = await this.redis.hgetall(this.itemKey(id));
    if (!fields.item) return null;
    const item = JSON.parse(fields.item) as OfflineItem;
    const status = (fields.status ?? 'pending') as OfflineItemStatus;
    return {
      ...item,
      status,
      synced: status !== 'pending',
      attempts: Number(fields.attempts ?? 0),
      lastError: fields.lastError ?? null,
      syncedAt: fields.syncedAt ? Number(fields.syncedAt) : null,
    };
  }

  /** A phone's items, oldest first. */
  async list(phoneNumber: string): Promise<OfflineItemState[]> {
    const ids = await this.redis.zrange(this.indexKey(phoneNumber), '0', '-1');
    const items = await Promise.all(ids.map((id) => this.get(id)));
    return items.filter((item): item is OfflineItemState => item !== null);
  }

  /**
   * Applies one item now (or, past OFFLINE_RETRY_HOURS, closes it as expired), unless another
   * process has it or it is closed already. Throws OfflineItemNotReady (nothing tried) or the
   * database's error (tried; try again later).
   */
  async apply(id: string): Promise<OfflineItemState | null> {
    const token = randomUUID();
    const lock = `offline:lock:${id}`;
    if ((await this.redis.set(lock, token, 'PX', OFFLINE_ITEM_LOCK_MS, 'NX')) !== 'OK')
      throw new OfflineItemNotReady('being applied elsewhere', true);
    const renewal = setInterval(() => {
      this.redis
        .eval(RENEW_LOCK, 1, lock, token, OFFLINE_ITEM_LOCK_MS)
        .catch((err: unknown) => this.logger.warn({ err, id }, 'could not renew an offline item lock'));
    }, OFFLINE_ITEM_LOCK_MS / 3);
    try {
      const state = await this.get(id);
      if (!state || state.status !== 'pending') return state;
      if (this.database.isOpen()) throw new OfflineItemNotReady('database unavailable');
      await this.redis.hincrby(this.itemKey(id), 'attempts', 1);
      try {
        const result = this.expired(state.queuedAt) ? await this.giveUp(state) : await this.applyNow(state);
        const status: OfflineItemStatus =
          result.status === 'duplicate'
            ? (result.outcome ?? 'applied')
            : result.code === EXPIRED
              ? 'expired'
              : result.status;
        await this.close(
          id,
          status,
          status === 'applied' ? null : `${result.code ?? ''} ${result.message ?? ''}`.trim(),
        );
      } catch (err) {
        await this.redis.hset(this.itemKey(id), 'lastError', (err as Error).message ?? String(err));
        throw err;
      }
      return this.get(id);
    } finally {
      clearInterval(renewal);
      await this.redis.eval(RELEASE_LOCK, 1, lock, token);
    }
  }

  private operation(state: OfflineItemState) {
    return { opId: state.opId, type: SYNC_TYPES[state.type], payload: state.data };
  }

  private applyNow(state: OfflineItemState) {
    const to = { phoneNumber: state.phoneNumber, language: state.language };
    // In the transaction that records the outcome: the SMS goes out once, with it.
    const onRecorded = async (tx: Tx, outcome: SyncResult) => {
      if (outcome.status === 'applied') {
        await this.notifications.notify(tx, {
          ...to,
          template: 'offline.applied',
          params: { reference: state.id, action: state.type },
        });
      } else {
        const params = { reference: state.id, action: state.type, code: outcome.code ?? 'UNKNOWN' };
        await this.notifications.notify(tx, { ...to, template: 'offline.rejected', params });
      }
    };
    if (state.type === 'WITHDRAWAL') {
      // Not a loan operation: held and sent to M-PESA under the step's own withdrawal id, so a
      // withdrawal the online attempt started is the same withdrawal.
      return this.sync.runOnce(
        state.userId,
        'ussd',
        { opId: state.opId, type: SYNC_TYPES.WITHDRAWAL },
        async () => {
          const payment = await this.withdrawals.withdraw(state.userId, Number(state.data.amount), {
            id: withdrawalIdFor(state.key),
          });
          return { payment: { id: payment.id, status: payment.status, amount: payment.amount } };
        },
        { onRecorded },
      );
    }
    return this.sync.applyOnce(state.userId, 'ussd', this.operation(state) as SyncOperationInput, {
      key: state.key,
      onRecorded,
    });
  }

  /**
   * Out of time: recorded as refused (so nothing can apply it later) and the user told, in one
   * transaction; so it needs the database too, and waits for it like any attempt.
   */
  private giveUp(state: OfflineItemState) {
    const to = { phoneNumber: state.phoneNumber, language: state.language };
    const message = `Not applied within ${this.settings.retryHours} h`;
    return this.sync.refuse(state.userId, 'ussd', this.operation(state), EXPIRED, message, {
      onRecorded: async (tx) => {
        await this.notifications.notify(tx, {
          ...to,
          template: 'offline.expired',
          params: { reference: state.id, action: state.type },
        });
      },
    });
  }

  /**
   * Applies an item after the same phone's older pending items, so a subscriber's writes land in
   * the order they were made whatever order their jobs come back in after backoff.
   */
  async applyInOrder(id: string): Promise<OfflineItemState | null> {
    const item = await this.get(id);
    if (!item || item.status !== 'pending') return item;
    const ids = await this.redis.zrangebyscore(this.indexKey(item.phoneNumber), '-inf', String(item.queuedAt));
    for (const earlier of ids) {
      if (earlier === id) continue;
      const state = await this.get(earlier);
      if (state?.status === 'pending' && state.queuedAt <= item.queuedAt) {
        await this.apply(earlier);
        // Its own job may be waiting out a backoff: let it run now and find the item closed.
        const job = await this.jobs.queue(QueueName.UssdOffline).getJob(this.jobId(earlier));
        if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
      }
    }
    return this.apply(id);
  }

  /** Whether an item queued at `queuedAt` has run out of time. */
  expired(queuedAt: number, now = Date.now()): boolean {
    return now - queuedAt >= this.settings.retryHours * 3_600_000;
  }

  private async close(id: string, status: OfflineItemStatus, lastError: string | null): Promise<void> {
    const key = this.itemKey(id);
    const multi = this.redis
      .multi()
      .hset(key, 'status', status, 'syncedAt', String(Date.now()))
      .expire(key, RETENTION_SECONDS);
    if (lastError) multi.hset(key, 'lastError', lastError);
    else multi.hdel(key, 'lastError');
    await multi.exec();
  }

  /** POST /api/ussd/sync: the phone's pending items, now, oldest first. */
  async syncNow(phoneNumber: string): Promise<SyncRun> {
    const pending = (await this.list(phoneNumber)).filter((item) => item.status === 'pending');
    const run: SyncRun = { success: true, synced: 0, total: pending.length, errors: [] };
    for (const item of pending) {
      try {
        const state = await this.apply(item.id);
        if (state?.synced) {
          run.synced += 1;
          // Done here: the queued job has nothing left to do (a job already running finds it closed).
          await (
            await this.jobs.queue(QueueName.UssdOffline).getJob(this.jobId(item.id))
          )
            ?.remove()
            .catch(() => undefined);
        }
      } catch (err) {
        run.errors.push({ id: item.id, error: (err as Error).message ?? String(err) });
      }
    }
    run.success = run.errors.length === 0;
    return run;
  }
}
