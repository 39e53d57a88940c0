import { Injectable } from '@nestjs/common';

/**
 * Whether this process is shutting down (main.ts, on SIGTERM or SIGINT). From then on readiness
 * fails, so that load balancers stop sending it requests, and every response closes its
 * connection, so that keep-alive clients open their next one elsewhere; requests already sent are
 * still answered.
 */
@Injectable()
export class DrainingService {
  private startedAt: Date | null = null;

  /** Once: later calls keep the first time. */
  begin(): void {
    this.startedAt ??= new Date();
  }

  get draining(): boolean {
    return this.startedAt !== null;
  }

  /** When the shutdown began, or null. */
  get since(): Date | null {
    return this.startedAt;
  }
}
