import type { WorkerOptions } from 'bullmq';

/**
 * How fast the jobs of a worker that died come back, for every queue's worker (docs/queues.md#when-a-worker-dies).
 * A live worker renews its lock on each job every lockDuration / 2 (5 s); a dead one stops, and
 * once the lock has expired (at most lockDuration, 10 s) the next stall check of any worker (every
 * stalledInterval, 5 s) puts the job back in `wait`. So a dead worker's jobs run again within
 * about 15 s, instead of BullMQ's default 30 s + 30 s.
 *
 * A job is taken back at most maxStalledCount times (one crash, and one more), then failed:
 * a job that kills its worker every time stops doing so. A live worker whose event loop is
 * blocked for over 10 s loses its lock and the job may run twice; every job of Deni may (a message
 * is sent once whatever runs it: each send claims its outbox row first).
 */
export const WORKER_RECOVERY = {
  lockDuration: 10_000,
  stalledInterval: 5_000,
  maxStalledCount: 2,
} as const satisfies Pick<WorkerOptions, 'lockDuration' | 'stalledInterval' | 'maxStalledCount'>;
