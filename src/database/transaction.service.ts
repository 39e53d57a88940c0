import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';

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

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async run<T>(work: (tx: Tx) => Promise<T>, isolation: IsolationLevel = 'READ COMMITTED'): Promise<T> {
    const callbacks: (() => unknown)[] = [];
    const result = await this.dataSource.transaction(isolation, (manager) =>
      work({ manager, afterCommit: (fn) => callbacks.push(fn) }),
    );
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
