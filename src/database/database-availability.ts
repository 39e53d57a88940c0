import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectDataSource } from '@nestjs/typeorm';
import { Client } from 'pg';
import {
  CannotExecuteNotConnectedError,
  CannotGetEntityManagerNotConnectedError,
  ConnectionIsNotSetError,
  DataSource,
  EntityMetadataNotFoundError,
} from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { connectDatabase } from './connect-database.js';

/** Socket-level failures (ENOTFOUND/EAI_AGAIN too: a stopped container's name stops resolving). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** The server is going down or not accepting connections yet (shutdown, crash, recovery). */
const SERVER_GONE = new Set(['57P01', '57P02', '57P03']);

/**
 * What pg, pg-pool and TypeORM say when a connection cannot be had or was lost ("timeout expired"
 * is pg's connect timeout, a server that accepts but never answers).
 */
const CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|^timeout expired$|Client has encountered a connection error|Connection is not established|Client was closed and is not queryable|Driver not Connected/i;

/** pg-pool's message when no connection came in time, which a merely busy pool also gives. */
const POOL_WAIT_TIMEOUT = /timeout exceeded when trying to connect/i;

function unavailable(err: unknown, depth: number): boolean {
  if (typeof err !== 'object' || err === null || depth > 3) return false;
  // The DataSource is not connected (yet): TypeORM's own errors for using it anyway.
  if (
    err instanceof EntityMetadataNotFoundError ||
    err instanceof CannotExecuteNotConnectedError ||
    err instanceof CannotGetEntityManagerNotConnectedError ||
    err instanceof ConnectionIsNotSetError
  ) {
    return true;
  }
  const { code, message, driverError, cause, errors } = err as {
    code?: unknown;
    message?: unknown;
    driverError?: unknown;
    cause?: unknown;
    errors?: unknown;
  };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || SERVER_GONE.has(code) || /^08[0-9A-Z]{3}$/.test(code))) {
    return true;
  }
  if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true;
  // TypeORM wraps pg's error (QueryFailedError.driverError); Node wraps the failures of each address
  // it tried (AggregateError.errors).
  const nested = [driverError, cause, ...(Array.isArray(errors) ? (errors as unknown[]) : [])];
  return nested.some((e) => unavailable(e, depth + 1));
}

/** Whether an error means "PostgreSQL cannot be reached" (as opposed to a bad query or a rule). */
export function isDatabaseUnavailable(err: unknown): boolean {
  return unavailable(err, 0);
}

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
