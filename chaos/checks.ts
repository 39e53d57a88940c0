/**
 * After the load: waiting for Deni to drain (every queue empty but its schedules, the SMS outbox
 * settled, the offline queue applied, no M-PESA payment left open but those held for an
 * operator), then what the run found, read from PostgreSQL, Redis and the simulators' own records:
 * the ledger's invariants, each acknowledged operation applied exactly once, SMS sent twice,
 * withdrawals given back although M-PESA paid them, and the order of each subscriber's offline
 * writes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { EntityManager } from 'typeorm';
import { ALL_QUEUES, JobName } from '../src/queues/queue-names.js';
import type { PersistedState } from '../src/simulators/daraja/state.js';
import { ledgerViolations } from '../test/support/invariants.js';
import type { Operation } from './traffic.js';

export interface DrainResult {
  drained: boolean;
  seconds: number;
  /** What was still there when the drain was given up (all zero when drained). */
  left: Record<string, number>;
  /** The same, one line per row or job. */
  leftDetails?: string[];
}

export interface Findings {
  invariantViolations: string[];
  lostOperations: string[];
  duplicatedOperations: string[];
  duplicateSms: string[];
  releasedInDoubt: string[];
  /** Withdrawals settled (the money gone from the wallet) that M-PESA never paid. */
  settledUnpaid: string[];
  offlineOrderViolations: string[];
  /** Payments an operator must look at (informational: each is listed with why). */
  heldForReview: string[];
  /** Acknowledged writes queued offline, by how they ended. */
  offlineOutcomes: Record<string, number>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads of the run's database, Redis keys and the simulators' records. */
export class Inspector {
  private readonly db: pg.Client;
  private readonly redis: Redis;
  /** BullMQ's connection, shared by the queues (which then leave closing it to us). */
  private readonly bull: Redis;
  private readonly queues: Queue[];

  constructor(
    databaseUrl: string,
    redisUrl: string,
    private readonly prefix: string,
    private readonly simulatorsUrl: string,
    private readonly simulatorsDataDir: string,
  ) {
    this.db = new pg.Client({ connectionString: databaseUrl });
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: 3, lazyConnect: true });
    this.bull = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.queues = ALL_QUEUES.map((name) => new Queue(name, { connection: this.bull, prefix: `{${prefix}}` }));
  }

  async open(): Promise<void> {
    await Promise.all([this.db.connect(), this.redis.connect()]);
  }

  async close(): Promise<void> {
    await Promise.all([this.db.end(), this.redis.quit(), ...this.queues.map((q) => q.close())]);
    this.bull.disconnect();
  }

  private async rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.db.query(sql, params)).rows as T[];
  }

  private async count(sql: string, params: unknown[] = []): Promise<number> {
    return Number((await this.rows<{ n: string }>(sql, params))[0]?.n ?? 0);
  }

  /** What keeps Deni from being drained, by kind (nothing: all zero). */
  async leftovers(): Promise<Record<string, number>> {
    const left: Record<string, number> = {};
    for (const queue of this.queues) {
      const counts = await queue.getJobCounts('waiting', 'active', 'prioritized', 'waiting-children');
      // Not work left: a schedule's next run (a delayed job of its own) and a loan request's
      // expiry (due when its TTL has passed).
      const delayed = (await queue.getDelayed()).filter(
        (job) => !job.id?.startsWith('repeat:') && job.name !== (JobName.ExpireLoan as string),
      ).length;
      left[`queue ${queue.name}`] = Object.values(counts).reduce((a, b) => a + b, 0) + delayed;
    }
    left['SMS not sent'] = await this.count(
      `SELECT count(*) AS n FROM notifications WHERE status IN ('pending', 'sending')`,
    );
    left['offline writes pending'] = (await this.offlineItems()).filter((i) => i.status === 'pending').length;
    left['M-PESA payments open'] = await this.count(
      `SELECT count(*) AS n FROM mpesa_payments WHERE status IN ('requested', 'pending') AND NOT needs_review`,
    );
    return left;
  }

  /** What is left, row by row, when the drain was given up: for the report. */
  async leftoverDetails(): Promise<string[]> {
    const lines: string[] = [];
    for (const n of await this.rows<{ id: string; status: string; template: string; attempts: number; age: string }>(
      `SELECT id, status, template, attempts, round(extract(epoch FROM now() - updated_at))::text AS age
         FROM notifications WHERE status IN ('pending', 'sending') ORDER BY updated_at LIMIT 20`,
    ))
      lines.push(`SMS ${n.id} (${n.template}): ${n.status}, ${n.attempts} attempt(s), unchanged for ${n.age} s`);
    for (const p of await this.rows<{ id: string; kind: string; status: string; age: string }>(
      `SELECT id, kind, status, round(extract(epoch FROM now() - created_at))::text AS age
         FROM mpesa_payments WHERE status IN ('requested', 'pending') AND NOT needs_review ORDER BY created_at LIMIT 20`,
    ))
      lines.push(`M-PESA ${p.kind} ${p.id}: ${p.status}, ${p.age} s old`);
    for (const i of (await this.offlineItems()).filter((item) => item.status === 'pending'))
      lines.push(`offline write ${i.id} of ${i.phone}: pending`);
    for (const queue of this.queues) {
      const jobs = await queue.getJobs(['waiting', 'active', 'prioritized', 'delayed'], 0, 20);
      for (const job of jobs)
        if (!job.id?.startsWith('repeat:') && job.name !== (JobName.ExpireLoan as string))
          lines.push(
            `job ${queue.name}/${job.name} ${job.id}: ${await job.getState()}, ${job.attemptsMade} attempt(s)`,
          );
    }
    return lines;
  }

  /** Polls until nothing is left, for up to `timeoutMs`. */
  async waitForDrain(timeoutMs: number, log: (message: string) => void): Promise<DrainResult> {
    const started = Date.now();
    let said = 0;
    for (;;) {
      let left: Record<string, number>;
      try {
        left = await this.leftovers();
      } catch (e) {
        left = { [`unreadable: ${(e as Error).message}`]: 1 };
      }
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      const open = Object.entries(left).filter(([, n]) => n > 0);
      if (!open.length) return { drained: true, seconds, left };
      if (Date.now() - started >= timeoutMs)
        return { drained: false, seconds, left, leftDetails: await this.leftoverDetails().catch(() => []) };
      if (Date.now() - said >= 15_000) {
        said = Date.now();
        log(`draining (${seconds} s): ${open.map(([k, n]) => `${k} ${n}`).join(', ')}`);
      }
      await sleep(500);
    }
  }

  /** Every offline write of the run, with its phone's order (queuedAt) and how it ended. */
  async offlineItems(): Promise<
    { id: string; phone: string; queuedAt: number; status: string; syncedAt: number | null }[]
  > {
    const items = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}:offline:item:*`, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const fields = await this.redis.hgetall(key);
        if (!fields.item) continue;
        const item = JSON.parse(fields.item) as { id: string; phoneNumber: string; queuedAt: number };
        items.push({
          id: item.id,
          phone: item.phoneNumber,
          queuedAt: item.queuedAt,
          status: fields.status ?? 'pending',
          syncedAt: fields.syncedAt ? Number(fields.syncedAt) : null,
        });
      }
    } while (cursor !== '0');
    return items;
  }

  private daraja(): PersistedState {
    return JSON.parse(readFileSync(join(this.simulatorsDataDir, 'daraja.json'), 'utf8')) as PersistedState;
  }

  /** What the simulated Africa's Talking accepted for a number: the texts, as sent. */
  private async smsReceived(phone: string): Promise<string[]> {
    const res = await fetch(`${this.simulatorsUrl}/simulator/messages?phoneNumber=${phone}`);
    const messages = (await res.json()) as { message: string | null }[];
    return messages.map((m) => m.message ?? '');
  }

  async findings(operations: Operation[], phones: string[]): Promise<Findings> {
    const found: Findings = {
      invariantViolations: await ledgerViolations({
        query: (sql: string, params?: unknown[]) => this.rows(sql, params),
      } as Pick<EntityManager, 'query'>),
      lostOperations: [],
      duplicatedOperations: [],
      duplicateSms: [],
      releasedInDoubt: [],
      settledUnpaid: [],
      offlineOrderViolations: [],
      heldForReview: [],
      offlineOutcomes: {},
    };
    const items = await this.offlineItems();
    const itemStatus = new Map(items.map((i) => [i.id, i.status]));
    const daraja = this.daraja();
    await this.checkOperations(operations, itemStatus, daraja, found);
    await this.checkWithdrawals(daraja, found);
    await this.checkSms(phones, found);
    checkOfflineOrder(items, found);
    for (const p of await this.rows<{ id: string; kind: string; status: string; result_desc: string | null }>(
      `SELECT id, kind, status, result_desc FROM mpesa_payments WHERE needs_review ORDER BY created_at`,
    ))
      found.heldForReview.push(`${p.kind} ${p.id} (${p.status}): ${p.result_desc ?? ''}`);
    return found;
  }

  /**
   * Each operation's effect. Where an effect is told by its key (REST, paybill) an acknowledged
   * operation must have exactly one. Where it is told by who, to whom and how much (USSD: its key
   * holds a session nonce the run never sees), operations with the same identity are counted
   * together: at least as many effects as were acknowledged, at most as many as were sent.
   */
  private async checkOperations(
    operations: Operation[],
    itemStatus: Map<string, string>,
    daraja: PersistedState,
    found: Findings,
  ): Promise<void> {
    const expected = new Map<string, { acked: number; sent: number; what: string }>();
    const expect = (identity: string, op: Operation, applied: boolean) => {
      const e = expected.get(identity) ?? { acked: 0, sent: 0, what: `${op.kind} ${op.phone} ${op.amount}` };
      e.sent += 1;
      if (applied) e.acked += 1;
      expected.set(identity, e);
    };
    const paidPushes = new Set(daraja.pushes.filter((p) => p.result?.code === 0).map((p) => p.checkoutRequestId));

    for (const op of operations) {
      if (!op.sent) continue;
      let applied = op.acked === 'online';
      if (op.acked === 'offline') {
        const status = itemStatus.get(op.reference!) ?? 'missing';
        found.offlineOutcomes[status] = (found.offlineOutcomes[status] ?? 0) + 1;
        if (status === 'missing' || status === 'pending')
          found.lostOperations.push(`${op.kind} #${op.k} of ${op.phone}: saved offline as ${op.reference}, ${status}`);
        applied = status === 'applied';
      }
      switch (op.kind) {
        case 'ussd-request':
          expect(`request|${op.phone}|${op.counterpart}|${op.amount}`, op, applied);
          break;
        case 'ussd-repay':
          expect(`repay|${op.phone}|${op.amount}`, op, applied);
          break;
        case 'ussd-withdraw':
          expect(`withdraw|${op.phone}|${op.amount}`, op, applied);
          break;
        case 'ussd-approve':
          if (applied) await this.checkApproved(op, found);
          break;
        case 'rest-request':
          await this.checkByKey(
            op,
            found,
            `SELECT count(*) AS n FROM loans l JOIN users u ON u.id = l.borrower_id
              WHERE u.phone_number = $1 AND l.request_key = 'api:' || u.id || ':' || $2`,
            [op.phone, op.key],
          );
          break;
        case 'rest-repay':
          await this.checkByKey(op, found, `SELECT count(*) AS n FROM transfers WHERE idempotency_key = $1`, [
            `repayment:${op.loanId}:api:${op.key}`,
          ]);
          break;
        case 'rest-withdraw':
          await this.checkByKey(op, found, `SELECT count(*) AS n FROM mpesa_payments WHERE id = $1`, [op.paymentId]);
          break;
        case 'rest-top-up':
          await this.checkTopUp(op, paidPushes, found);
          break;
        case 'paybill':
          if (op.acked)
            await this.checkByKey(
              op,
              found,
              `SELECT count(*) AS n FROM transfers WHERE idempotency_key = $1 AND kind = 'deposit'`,
              [`deposit:c2b:${op.transId}`],
            );
          break;
        case 'ussd-balance':
          break;
      }
    }

    const effects = new Map<string, number>();
    const tally = async (prefix: string, sql: string) => {
      for (const r of await this.rows<{ identity: string; n: string }>(sql))
        effects.set(`${prefix}|${r.identity}`, Number(r.n));
    };
    await tally(
      'request',
      `SELECT b.phone_number || '|' || le.phone_number || '|' || l.principal AS identity, count(*) AS n
         FROM loans l JOIN users b ON b.id = l.borrower_id JOIN users le ON le.id = l.lender_id
        WHERE l.request_key LIKE 'ussd:%' GROUP BY 1`,
    );
    await tally(
      'repay',
      `SELECT u.phone_number || '|' || t.amount AS identity, count(*) AS n
         FROM transfers t JOIN accounts a ON a.id = t.debit_account_id JOIN users u ON u.id = a.user_id
        WHERE t.kind = 'loan_repayment' AND t.idempotency_key LIKE 'repayment:%:ussd:%' GROUP BY 1`,
    );
    // USSD withdrawals are below 200 (REST ones from 210: see the traffic's amounts).
    await tally(
      'withdraw',
      `SELECT u.phone_number || '|' || p.amount AS identity, count(*) AS n
         FROM mpesa_payments p JOIN users u ON u.id = p.user_id
        WHERE p.kind = 'b2c' AND p.amount < 200 GROUP BY 1`,
    );
    for (const [identity, e] of expected) {
      const n = effects.get(identity) ?? 0;
      if (n < e.acked) found.lostOperations.push(`${e.what}: ${e.acked} acknowledged, ${n} found`);
      if (n > e.sent) found.duplicatedOperations.push(`${e.what}: sent ${e.sent} time(s), applied ${n}`);
    }
    // Effects of USSD writes the run never made (e.g. a step applied twice under two keys).
    for (const [identity, n] of effects)
      if (!expected.has(identity)) found.duplicatedOperations.push(`${identity}: applied ${n}, never sent`);
  }

  private async checkByKey(op: Operation, found: Findings, sql: string, params: unknown[]): Promise<void> {
    const n = await this.count(sql, params);
    if (op.acked && n === 0)
      found.lostOperations.push(
        `${op.kind} #${op.k} of ${op.phone} (${op.key ?? op.transId}): acknowledged, not found`,
      );
    if (n > 1)
      found.duplicatedOperations.push(
        `${op.kind} #${op.k} of ${op.phone} (${op.key ?? op.transId}): applied ${n} times`,
      );
  }

  private async checkApproved(op: Operation, found: Findings): Promise<void> {
    const loans = await this.rows<{ status: string }>(
      `SELECT l.status FROM loans l JOIN users b ON b.id = l.borrower_id JOIN users le ON le.id = l.lender_id
        WHERE le.phone_number = $1 AND b.phone_number = $2 AND l.principal = $3`,
      [op.phone, op.counterpart, op.amount],
    );
    if (!loans.some((l) => l.status === 'ACTIVE' || l.status === 'REPAID'))
      found.lostOperations.push(
        `ussd-approve #${op.k}: ${op.phone} approved ${op.counterpart}'s ${op.amount}, loan is ${loans.map((l) => l.status).join(', ') || 'absent'}`,
      );
  }

  private async checkTopUp(op: Operation, paidPushes: Set<string>, found: Findings): Promise<void> {
    if (!op.acked) return;
    const [payment] = await this.rows<{ status: string; checkout_request_id: string | null }>(
      `SELECT status, checkout_request_id FROM mpesa_payments WHERE id = $1`,
      [op.paymentId],
    );
    if (!payment) {
      found.lostOperations.push(`rest-top-up #${op.k} of ${op.phone}: payment ${op.paymentId} absent`);
      return;
    }
    const credits = payment.checkout_request_id
      ? await this.count(`SELECT count(*) AS n FROM transfers WHERE idempotency_key = $1`, [
          `deposit:stk:${payment.checkout_request_id}`,
        ])
      : 0;
    const paid = payment.checkout_request_id !== null && paidPushes.has(payment.checkout_request_id);
    if (paid && (payment.status !== 'succeeded' || credits !== 1))
      found.lostOperations.push(
        `rest-top-up #${op.k} of ${op.phone}: M-PESA took the money, payment ${payment.status} with ${credits} credit(s)`,
      );
    if (!paid && credits > 0) found.duplicatedOperations.push(`rest-top-up #${op.k}: credited, M-PESA never paid`);
  }

  /** Each withdrawal against what the simulated M-PESA did with it (by OriginatorConversationID, its id). */
  private async checkWithdrawals(daraja: PersistedState, found: Findings): Promise<void> {
    const mpesa = new Map(daraja.b2cs.map((b) => [b.originatorConversationId, b.state]));
    for (const w of await this.rows<{ id: string; status: string; amount: string; result_desc: string | null }>(
      `SELECT id, status, amount::text, result_desc FROM mpesa_payments WHERE kind = 'b2c'`,
    )) {
      const there = mpesa.get(w.id) ?? 'never asked';
      if (w.status === 'failed' && there === 'completed')
        found.releasedInDoubt.push(
          `withdrawal ${w.id} of ${w.amount}: given back, M-PESA paid it${w.result_desc ? ` (${w.result_desc})` : ''}`,
        );
      if (w.status === 'succeeded' && there !== 'completed')
        found.settledUnpaid.push(`withdrawal ${w.id} of ${w.amount}: settled, M-PESA says ${there}`);
    }
  }

  /**
   * SMS sent twice: for each number and text, more messages at Africa's Talking than outbox rows
   * (each row is one message, to be sent once).
   */
  private async checkSms(phones: string[], found: Findings): Promise<void> {
    const rows = new Map<string, number>();
    for (const r of await this.rows<{ phone_number: string; body: string; n: string }>(
      `SELECT phone_number, body, count(*) AS n FROM notifications GROUP BY 1, 2`,
    ))
      rows.set(`${r.phone_number}|${r.body}`, Number(r.n));
    for (const phone of phones) {
      const sent = new Map<string, number>();
      for (const text of await this.smsReceived(phone)) sent.set(text, (sent.get(text) ?? 0) + 1);
      for (const [text, n] of sent) {
        const outbox = rows.get(`${phone}|${text}`) ?? 0;
        if (n > outbox)
          found.duplicateSms.push(`${phone}: ${JSON.stringify(text)} sent ${n} times, ${outbox} in the outbox`);
      }
    }
  }
}

/** A subscriber's offline writes are applied in the order they were made. */
function checkOfflineOrder(
  items: { id: string; phone: string; queuedAt: number; syncedAt: number | null }[],
  found: Findings,
): void {
  const byPhone = new Map<string, typeof items>();
  for (const item of items) byPhone.set(item.phone, [...(byPhone.get(item.phone) ?? []), item]);
  for (const [phone, list] of byPhone) {
    list.sort((a, b) => a.queuedAt - b.queuedAt);
    for (let i = 1; i < list.length; i += 1) {
      const [before, after] = [list[i - 1], list[i]];
      if (before.syncedAt !== null && after.syncedAt !== null && after.syncedAt < before.syncedAt)
        found.offlineOrderViolations.push(
          `${phone}: ${after.id} (queued ${after.queuedAt}) applied before ${before.id} (queued ${before.queuedAt})`,
        );
    }
  }
}
