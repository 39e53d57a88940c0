import { randomInt } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { DatabaseAvailability } from './database-availability.js';

const MAX_ATTEMPTS = 6;

/** Thrown by work that found the world changed under it and must start again from scratch. */
export class RetryTransaction extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RetryTransaction';
  }
}

function isRetryable(err: unknown): boolean {
  if (err instanceof RetryTransaction) return true;
  const code =
    (err as { code?: unknown; driverError?: { code?: unknown } })?.driverError?.code ??
    (err as { code?: unknown })?.code;
  return code === '40P01' || code === '40001';
}

type IsolationLevel = 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

/**
 * A unit of work. Repositories called inside it use `tx.manager`; side effects that must only
 * happen once the data is durable (enqueueing a job, say) are registered with `afterCommit`.
 */
export interface Tx {
  readonly manager: EntityManager;
  afterCommit(fn: () => unknown): void;
}

@Injectable()
export class TransactionService {
  private readonly logger = new Logger(TransactionService.name);
  /** The server's default isolation level (default_transaction_isolation), asked once. */
  private serverDefault: Promise<string> | undefined;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly availability: DatabaseAvailability,
  ) {}

  /**
   * Runs `work` in one transaction. A deadlock or serialization failure (PostgreSQL picks a
   * victim) or a RetryTransaction from the work itself rolls back and runs it again: the work is
   * all-or-nothing, so running it again is safe.
   */
  /**
   * Whether transactions get `isolation` without naming it. Deni's code relies on READ COMMITTED
   * (each statement sees what committed before it); a server, database or role set to a stricter
   * default gets it named on every transaction instead.
   */
  private async isDefault(isolation: IsolationLevel): Promise<boolean> {
    if (!this.serverDefault) {
      const asked = this.dataSource
        .query<{ default_transaction_isolation: string }[]>('SHOW default_transaction_isolation')
        .then(([row]) => row.default_transaction_isolation.toUpperCase());
      asked.catch(() => (this.serverDefault = undefined)); // asked again after a failure
      this.serverDefault = asked;
    }
    return (await this.serverDefault) === isolation;
  }

  async run<T>(work: (tx: Tx) => Promise<T>, isolation: IsolationLevel = 'READ COMMITTED'): Promise<T> {
    let callbacks: (() => unknown)[] = [];
    let result!: T;
    for (let attempt = 1; ; attempt += 1) {
      callbacks = [];
      try {
        const unit = (manager: EntityManager) => work({ manager, afterCommit: (fn) => callbacks.push(fn) });
        // Named only where the server's default differs: READ COMMITTED is PostgreSQL's, and
        // naming it would cost every transaction a SET TRANSACTION round trip.
        result = await ((await this.isDefault(isolation))
          ? this.dataSource.transaction(unit)
          : this.dataSource.transaction(isolation, unit));
        break;
      } catch (err) {
        if (!isRetryable(err) || attempt >= MAX_ATTEMPTS) {
          // A lost connection opens the breaker at once, before the next ping would notice.
          this.availability.recordFailure(err);
          throw err;
        }
        await new Promise((r) => setTimeout(r, randomInt(5, 20 * attempt)));
      }
    }
    for (const fn of callbacks) {
      try {
        await fn();
      } catch (err) {
        // The data is committed; anything an after-commit step must achieve is also recovered by a
        // relay (e.g. the notifications outbox), so a failure here is logged, not thrown.
        this.logger.warn({ err }, 'after-commit step failed; the relay will recover it');
      }
    }
    return result;
  }
}
