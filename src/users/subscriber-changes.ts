import { Injectable, Logger } from '@nestjs/common';

/** Told which subscribers a committed write changed; its promise is awaited before the write returns. */
export type SubscriberChangeListener = (userIds: readonly string[]) => Promise<void>;

/**
 * "This write changed what these subscribers see." The services that write (users: PIN, language;
 * loans: the lifecycle and incoming money; mpesa: withdrawals) report the subscribers they changed
 * once committed, both parties of a loan, whichever channel called them; a module that keeps read
 * models of subscribers (ussd: the offline snapshots) listens. Owned here, at the bottom, so that
 * dependencies keep pointing down: the writers know nothing of the listeners, which register
 * themselves when their module starts.
 *
 * A write awaits its listeners before it returns, so the reply to whoever made it (USSD, REST,
 * the sync API) is sent once the read models are up to date. A listener failing never fails the
 * write: the write is committed by then, and a read model is only a copy.
 */
@Injectable()
export class SubscriberChanges {
  private readonly logger = new Logger(SubscriberChanges.name);
  private readonly listeners = new Set<SubscriberChangeListener>();

  /** Registers a listener; returns what unregisters it. */
  listen(listener: SubscriberChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** After a commit: tells every listener (at once) that these subscribers changed, and waits for them. */
  async changed(userIds: readonly string[]): Promise<void> {
    if (this.listeners.size === 0) return;
    const ids = [...new Set(userIds)];
    if (ids.length === 0) return;
    await Promise.all(
      [...this.listeners].map(async (listener) => {
        try {
          await listener(ids);
        } catch (err) {
          // The write is committed: a stale read model is logged, never a failed write.
          this.logger.warn({ err }, 'a read model was not updated after a write');
        }
      }),
    );
  }
}
