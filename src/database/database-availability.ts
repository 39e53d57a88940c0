import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectDataSource } from '@nestjs/typeorm';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { isDatabaseUnavailable, POOL_WAIT_TIMEOUT } from '../common/postgres-errors.js';
import type { AppConfig } from '../config/app-config.js';
import { connectDatabase } from './connect-database.js';

/**
 * The database circuit breaker. Open while PostgreSQL is unreachable (or not connected yet, at
 * start-up); closed when a probe succeeds. Callers that have an offline path check `isOpen()`
 * first and never wait on dead connections; callers that hit a connection error report it.
 *
 * It also connects the application's DataSource (TypeOrmModule leaves that to it): once at
 * start-up, before the application listens, and, when PostgreSQL was down then, in the background
 * until it answers. Closed, it pings PostgreSQL on a connection of its own, so a busy pool is never
 * mistaken for an outage; open, it probes until PostgreSQL answers again.
 */
@Injectable()
export class DatabaseAvailability implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  private readonly settings: AppConfig['database'];
  private readonly listeners = new Set<() => void>();
  private open = true;
  /** The DataSource is initialized and migrated. */
  private connected = false;
  private stopped = false;
  private client?: Client;
  private timer?: NodeJS.Timeout;
  private check?: Promise<void>;
  /** The last background connection error that was not an outage, logged once. */
  private lastConnectError?: string;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('database', { infer: true });
  }

  isOpen(): boolean {
    return this.open;
  }

  /** Report an error seen while using the database: a connection error opens the breaker. */
  recordFailure(err: unknown): void {
    // A pool wait timeout may only mean the pool is busy: the next ping tells.
    if (this.stopped || !isDatabaseUnavailable(err) || POOL_WAIT_TIMEOUT.test(String((err as Error)?.message))) return;
    this.trip(err);
  }

  /**
   * Called each time the breaker closes (the database is back), including the first time, once
   * connected at start-up. Returns an unsubscribe function.
   */
  onRecovered(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Connects before the application listens, so a normal start has its migrations applied. */
  async onModuleInit(): Promise<void> {
    try {
      await connectDatabase(this.dataSource, this.settings, this.logger);
      this.connected = true;
      this.close();
    } catch (err) {
      // Anything but an outage (bad credentials, a failing migration) stops the start as before.
      if (!isDatabaseUnavailable(err)) throw err;
      this.logger.warn(
        { reason: errorMessage(err) },
        `PostgreSQL is unreachable: starting without it, trying again every ${this.settings.probeIntervalMs} ms`,
      );
    }
    this.schedule();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // A connection attempt in flight must not initialize the DataSource behind TypeOrmModule's back
    // (which destroys it at shutdown only if it is initialized by then): see connect().
    await this.check;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay = this.open ? this.settings.probeIntervalMs : this.settings.pingIntervalMs;
    this.timer = setTimeout(() => {
      this.check = this.runCheck().finally(() => {
        this.check = undefined;
        this.schedule();
      });
    }, delay);
    this.timer.unref();
  }

  /** Closed: a ping. Open: a probe, which also connects the DataSource if that is still to do. */
  private async runCheck(): Promise<void> {
    const failure = await this.ping();
    if (this.stopped) return;
    if (failure) {
      this.trip(failure);
      return;
    }
    if (this.open && (this.connected || (await this.connect()))) this.close();
  }

  /** One background attempt at connecting the DataSource; true when it is ready to use. */
  private async connect(): Promise<boolean> {
    try {
      await connectDatabase(this.dataSource, this.settings, this.logger);
    } catch (err) {
      if (!isDatabaseUnavailable(err) && errorMessage(err) !== this.lastConnectError) {
        // PostgreSQL answers but the DataSource cannot be used: stay open, keep trying, say so once.
        this.lastConnectError = errorMessage(err);
        this.logger.error({ err }, 'cannot connect to PostgreSQL');
      }
      return false;
    }
    if (this.stopped) {
      // Shutdown began during the attempt, after TypeOrmModule may have looked: close it here.
      await this.dataSource.destroy().catch(() => undefined);
      return false;
    }
    this.connected = true;
    return true;
  }

  /** SELECT 1 on the breaker's own connection; the error when it fails, undefined when it answers. */
  private async ping(): Promise<unknown> {
    try {
      const client = this.client ?? (await this.openClient());
      await client.query('SELECT 1');
      return undefined;
    } catch (err) {
      this.discardClient();
      return err;
    }
  }

  private async openClient(): Promise<Client> {
    const client = new Client({
      connectionString: this.settings.url,
      connectionTimeoutMillis: this.settings.pingTimeoutMs,
      query_timeout: this.settings.pingTimeoutMs,
      application_name: 'deni-availability',
    });
    // A dropped connection is noticed at once, not at the next ping.
    client.on('error', (err) => {
      if (this.client !== client) return;
      this.discardClient();
      if (!this.stopped) this.trip(err);
    });
    this.client = client;
    await client.connect();
    return client;
  }

  private discardClient(): void {
    // Not awaited: ending a connection to an unreachable server may never complete.
    void this.client?.end().catch(() => undefined);
    this.client = undefined;
  }

  private trip(err: unknown): void {
    if (this.open) return;
    this.open = true;
    this.logger.warn({ reason: errorMessage(err) }, 'PostgreSQL is unreachable: database circuit open');
  }

  private close(): void {
    if (!this.open) return;
    this.open = false;
    this.lastConnectError = undefined;
    this.logger.log('PostgreSQL is available: database circuit closed');
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (err) {
        this.logger.error({ err }, 'a database recovery listener failed');
      }
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
