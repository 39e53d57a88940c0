/**
 * The mixed traffic: actors, each looking after its own subscribers, run operation after
 * operation until the run's time or request bound: USSD journeys (loan request, approval with the
 * PIN, balance, repayment, withdrawal), REST calls under Idempotency-Key (loan request, repayment,
 * withdrawal, M-PESA top-up), and paybill payments made at the simulated M-PESA.
 *
 * Operation k is drawn from its own random stream (kind, subscriber, amounts, whether and when it
 * is sent again), so a seed replays the same operations whatever the timing did. What Deni
 * acknowledged is recorded with what identifies its effect, for the checks after the drain; a
 * share of the acknowledged ones is sent again under the same key (the same USSD session and
 * text, the same Idempotency-Key, the same paybill confirmation), some after faults.
 */
import type { Answer, Client } from './client.js';
import { Random } from './random.js';
import { local, type Population } from './subscribers.js';

export const KINDS = [
  'ussd-request',
  'ussd-approve',
  'ussd-balance',
  'ussd-repay',
  'ussd-withdraw',
  'rest-request',
  'rest-repay',
  'rest-withdraw',
  'rest-top-up',
  'paybill',
] as const;
export type Kind = (typeof KINDS)[number];

const WEIGHTS: Record<Kind, number> = {
  'ussd-request': 18,
  'ussd-approve': 14,
  'ussd-balance': 6,
  'ussd-repay': 10,
  'ussd-withdraw': 8,
  'rest-request': 6,
  'rest-repay': 6,
  'rest-withdraw': 6,
  'rest-top-up': 8,
  paybill: 14,
};

/** The request that was acknowledged, to be sent again as it was. */
type Final =
  | { via: 'ussd'; sessionId: string; text: string; reply: string }
  | { via: 'rest'; method: 'POST'; path: string; key: string; body: unknown; id: string }
  | { via: 'confirmation'; text: string };

export interface Operation {
  k: number;
  kind: Kind;
  /** Who acts. */
  phone: string;
  /** The operation's amount (principal, repayment, withdrawal, top-up or payment). */
  amount: number;
  /** A loan request's lender; an approval's borrower (read from the screen). */
  counterpart?: string;
  /** A REST call's Idempotency-Key. */
  key?: string;
  /** The last request of the operation was sent (whatever became of it): its effect may exist. */
  sent: boolean;
  /** Deni said it was done (online), or saved it for later with a reference (offline). */
  acked: 'online' | 'offline' | null;
  reference?: string;
  loanId?: string;
  paymentId?: string;
  transId?: string;
  final?: Final;
  /** The last answer of an operation not acknowledged (a screen, or an HTTP status and body). */
  answer?: string;
  replays: number;
  /** Replays answered otherwise than the first time (beyond "not now" screens and 503s). */
  disagreements: string[];
  /** Ms since the load started. */
  at: number;
}

export interface TrafficSettings {
  seed: number;
  actors: number;
  durationMs: number;
  maxRequests: number;
  /** The share of acknowledged operations sent again. */
  replayShare: number;
}

export interface TrafficStats {
  started: number;
  /** REST calls sent again after no answer or a 503, before any acknowledgement. */
  retries: number;
  replaysSent: number;
  replaysAnswered: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An answer in a line, for the report. */
function describe(answer: Answer | null): string {
  return answer ? `${answer.status} ${answer.body.slice(0, 100)}` : 'no answer';
}

/** The `id` of a JSON answer (a loan or a payment), if it has one. */
function idOf(body: string): string | undefined {
  try {
    const id = (JSON.parse(body) as { id?: unknown }).id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

const REFERENCE = /Ref ([0-9A-Z]{10})/;
/** A number as screens show it, `0712 345 678`; as stored, 254712345678. */
const SHOWN = '(0\\d{3} \\d{3} \\d{3})';
const stored = (shown: string) => `254${shown.replace(/\s/g, '').slice(1)}`;
const ASKS = new RegExp(`${SHOWN} asks Ksh (\\d+)`);
const OWED = new RegExp(`Owed to ${SHOWN}: Ksh (\\d+)\\nWallet: Ksh (\\d+)`);
const SAVED = /Saved\./;

/** A USSD session of one subscriber, as Africa's Talking carries it: the inputs so far, joined by '*'. */
class Session {
  private readonly inputs: string[] = [];
  text = '';
  reply = '';

  constructor(
    private readonly client: Client,
    readonly phone: string,
    readonly id: string,
    private readonly random: Random,
    /** The operation, whose last answer is noted as the session goes. */
    private readonly op: Operation,
  ) {}

  /** Dials; a resume offer (a journey of this phone lost earlier) is answered "start again". */
  async dial(): Promise<boolean> {
    const menu = await this.send();
    if (menu?.includes('1. Continue')) return (await this.next('2', /M-PESA LOANS/)) !== null;
    return menu !== null && /^CON .*M-PESA LOANS/s.test(menu);
  }

  /** Types `input`; the reply when it matches `expect`, else null (the journey stops there). */
  async next(input: string, expect: RegExp): Promise<string | null> {
    await sleep(this.random.int(20, 150));
    this.inputs.push(input);
    const reply = await this.send();
    return reply !== null && expect.test(reply) ? reply : null;
  }

  private async send(): Promise<string | null> {
    this.text = this.inputs.join('*');
    const reply = await this.client.ussd(this.phone, this.id, this.text);
    this.reply = reply ?? '';
    this.op.answer = reply === null ? `no screen for ${this.inputs.length} input(s)` : reply.slice(0, 120);
    return reply;
  }
}

export class Traffic {
  readonly operations: Operation[] = [];
  readonly stats: TrafficStats = { started: 0, retries: 0, replaysSent: 0, replaysAnswered: 0 };
  private readonly replays: { at: number; op: Operation }[] = [];
  /** REST calls under way (retried in the background while their actor goes on). */
  private readonly calls = new Set<Promise<void>>();
  private readonly replayRandom: Random;
  private startedAt = 0;
  private stopped = false;

  constructor(
    private readonly client: Client,
    private readonly people: Population,
    private readonly settings: TrafficSettings,
  ) {
    this.replayRandom = new Random(settings.seed, 'replays');
  }

  private done(): boolean {
    return (
      this.stopped ||
      Date.now() - this.startedAt >= this.settings.durationMs ||
      this.client.requests >= this.settings.maxRequests
    );
  }

  /** Runs the load until its bound, then sends the replays still waiting. */
  async run(): Promise<void> {
    this.startedAt = Date.now();
    const replaying = this.replayLoop();
    await Promise.all(Array.from({ length: this.settings.actors }, (_, a) => this.actor(a)));
    while (this.calls.size) await Promise.all([...this.calls]);
    this.stopped = true;
    await replaying;
    const left = this.replays.splice(0);
    for (let i = 0; i < left.length; i += 4) await Promise.all(left.slice(i, i + 4).map(({ op }) => this.replay(op)));
  }

  get running(): boolean {
    return this.startedAt > 0 && !this.done();
  }

  /**
   * After a fault: a few acknowledged operations sent again at once (USSD steps only from the last
   * half minute: a gateway's retry comes within seconds, while the session lives).
   */
  async replayAfterFault(count: number): Promise<void> {
    const now = Date.now() - this.startedAt;
    const acked = this.operations.filter((op) => op.final && (op.final.via !== 'ussd' || now - op.at < 30_000));
    const chosen = Array.from({ length: Math.min(count, acked.length) }, () => this.replayRandom.pick(acked));
    await Promise.all(chosen.map((op) => this.replay(op)));
  }

  private async actor(a: number): Promise<void> {
    for (let k = a; !this.done(); k += this.settings.actors) {
      const random = new Random(this.settings.seed, `op:${k}`);
      const op = this.plan(k, a, random);
      // A journey starts with the number's rate limit (30 steps a minute) far enough away.
      while (op.kind.startsWith('ussd-') && this.client.stepsLeft(op.phone) < 10 && !this.done()) await sleep(250);
      if (this.done()) break;
      this.operations.push(op);
      this.stats.started += 1;
      const work = this.execute(op, random)
        .catch((e: unknown) => {
          op.disagreements.push(`failed in the run itself: ${(e as Error).message}`);
        })
        .then(() => {
          if (op.final && random.chance(this.settings.replayShare)) {
            // A gateway retries within seconds (a USSD session lives minutes); a mobile client
            // may retry much later.
            const delay = op.final.via === 'ussd' ? random.int(300, 15_000) : random.int(1_000, 45_000);
            this.replays.push({ at: Date.now() + delay, op });
          }
        });
      // A mobile app retrying its call does not keep the same hands off a phone's next dial.
      if (op.kind.startsWith('rest-')) this.background(work);
      else await work;
      await sleep(random.int(0, 400));
    }
  }

  private background(work: Promise<void>): void {
    this.calls.add(work);
    void work.finally(() => this.calls.delete(work));
  }

  private plan(k: number, a: number, random: Random): Operation {
    const kind = random.weighted(WEIGHTS);
    const cast = this.people.byActor[a];
    const phone =
      kind === 'ussd-approve'
        ? random.pick(cast.lenders)
        : ['ussd-withdraw', 'ussd-balance', 'rest-withdraw', 'rest-top-up'].includes(kind)
          ? random.pick([...cast.lenders, ...cast.borrowers])
          : random.pick(cast.borrowers);
    // Amounts follow k, so that an operation's effect can be told apart from others' in SQL.
    const amount = {
      'ussd-request': 100 + k,
      'rest-request': 100 + k,
      'ussd-approve': 0,
      'ussd-balance': 0,
      'ussd-repay': 1 + (k % 150),
      'rest-repay': 1 + (k % 150),
      // Below 200 by USSD, from 210 by REST: the checks count USSD withdrawals by their amount.
      'ussd-withdraw': 10 + (k % 190),
      'rest-withdraw': 210 + (k % 190),
      'rest-top-up': 20 + (k % 500),
      paybill: 100 + (k % 400),
    }[kind];
    const op: Operation = {
      k,
      kind,
      phone,
      amount,
      sent: false,
      acked: null,
      replays: 0,
      disagreements: [],
      at: Date.now() - this.startedAt,
    };
    // The actor's own lenders: the requests it makes are the ones its lenders then find waiting.
    if (kind === 'ussd-request' || kind === 'rest-request') op.counterpart = random.pick(cast.lenders);
    if (kind.startsWith('rest-')) op.key = `chaos-${this.settings.seed}-${k}`;
    return op;
  }

  private execute(op: Operation, random: Random): Promise<void> {
    switch (op.kind) {
      case 'ussd-request':
        return this.ussdRequest(op, random);
      case 'ussd-approve':
        return this.ussdApprove(op, random);
      case 'ussd-balance':
        return this.ussdBalance(op, random);
      case 'ussd-repay':
        return this.ussdRepay(op, random);
      case 'ussd-withdraw':
        return this.ussdWithdraw(op, random);
      case 'rest-request':
        return this.restRequest(op);
      case 'rest-repay':
        return this.restRepay(op);
      case 'rest-withdraw':
        return this.restPayment(op, '/api/wallet/withdrawals', { amount: op.amount, pin: this.client.pin });
      case 'rest-top-up':
        return this.restPayment(op, '/api/wallet/deposits', { amount: op.amount });
      case 'paybill':
        return this.payBill(op);
    }
  }

  private session(op: Operation, random: Random): Session {
    return new Session(this.client, op.phone, `chaos-${this.settings.seed}-${op.k}`, random, op);
  }

  /** The last step of a write: acknowledged online when `done` matches, offline when saved. */
  private finish(op: Operation, session: Session, reply: string | null, done: RegExp): void {
    op.sent = true;
    if (reply === null) return;
    const saved = SAVED.test(reply) ? REFERENCE.exec(reply) : null;
    if (saved) {
      op.acked = 'offline';
      op.reference = saved[1];
    } else if (done.test(reply)) op.acked = 'online';
    else return;
    op.final = { via: 'ussd', sessionId: session.id, text: session.text, reply };
  }

  private async ussdRequest(op: Operation, random: Random): Promise<void> {
    const s = this.session(op, random);
    const repayment = 10 * (1 + (op.k % 5));
    if (!(await s.dial())) return;
    if (!(await s.next('1', /Enter lender phone/))) return;
    if (!(await s.next(local(op.counterpart!), /Enter loan amount/))) return;
    if (!(await s.next(String(op.amount), /Enter repayment/))) return;
    if (!(await s.next(String(repayment), /CONFIRM LOAN/))) return;
    if (!(await s.next('1', /Enter your 4-digit PIN/))) return;
    this.finish(op, s, await s.next(this.client.pin, /./), /Loan request sent/);
  }

  private async ussdApprove(op: Operation, random: Random): Promise<void> {
    const s = this.session(op, random);
    if (!(await s.dial())) return;
    if (!(await s.next('3', /APPROVE LOAN\n.*1\. /s))) return;
    const asked = ASKS.exec((await s.next('1', ASKS)) ?? '');
    if (!asked) return;
    op.counterpart = stored(asked[1]);
    op.amount = Number(asked[2]);
    if (!(await s.next('1', /Enter your 4-digit PIN/))) return;
    this.finish(op, s, await s.next(this.client.pin, /./), /APPROVED/);
  }

  /** A read: "acknowledged" when the balance is shown (from the snapshot, offline). */
  private async ussdBalance(op: Operation, random: Random): Promise<void> {
    const s = this.session(op, random);
    if (!(await s.dial())) return;
    const shown = await s.next('4', /BALANCE/);
    if (shown) op.acked = /As of/.test(shown) ? 'offline' : 'online';
  }

  private async ussdRepay(op: Operation, random: Random): Promise<void> {
    const s = this.session(op, random);
    if (!(await s.dial())) return;
    if (!(await s.next('6', /REPAY LOAN\n.*1\. /s))) return;
    const owed = OWED.exec((await s.next('1', OWED)) ?? '');
    if (!owed || op.amount > Number(owed[2]) || op.amount > Number(owed[3])) return;
    op.counterpart = stored(owed[1]);
    if (!(await s.next(String(op.amount), /Enter your 4-digit PIN/))) return;
    this.finish(op, s, await s.next(this.client.pin, /./), /PAID\n/);
  }

  private async ussdWithdraw(op: Operation, random: Random): Promise<void> {
    const s = this.session(op, random);
    if (!(await s.dial())) return;
    if (!(await s.next('7', /MY ACCOUNT/))) return;
    const form = await s.next('2', /WITHDRAW\nWallet: Ksh (\d+)/);
    const wallet = form && /Wallet: Ksh (\d+)/.exec(form);
    if (!wallet || op.amount > Number(wallet[1])) return;
    if (!(await s.next(String(op.amount), /Enter your 4-digit PIN/))) return;
    this.finish(op, s, await s.next(this.client.pin, /./), /on its way to your M-PESA/);
  }

  /**
   * A REST call as a mobile client makes it: no answer or a 503 (the database away) is tried again
   * with the same key, a few times, while the load runs.
   */
  private async persist(send: () => Promise<Answer | null>): Promise<Answer | null> {
    for (let attempt = 0; ; attempt += 1) {
      const answer = await send();
      if (answer && answer.status < 500) return answer;
      if (attempt >= 20 || this.done()) return answer;
      this.stats.retries += 1;
      await sleep(1_000);
    }
  }

  private async restRequest(op: Operation): Promise<void> {
    const body = {
      lenderPhoneNumber: op.counterpart,
      amount: op.amount,
      repaymentPerDeposit: 10 * (1 + (op.k % 5)),
      pin: this.client.pin,
    };
    op.sent = true;
    const answer = await this.persist(() => this.client.asUser(op.phone, 'POST', '/api/loans', { key: op.key, body }));
    op.answer = describe(answer);
    if (answer?.status !== 201) return;
    op.acked = 'online';
    op.loanId = idOf(answer.body);
    if (op.loanId) op.final = { via: 'rest', method: 'POST', path: '/api/loans', key: op.key!, body, id: op.loanId };
  }

  private async restRepay(op: Operation): Promise<void> {
    const listed = await this.persist(() =>
      this.client.asUser(op.phone, 'GET', '/api/loans?role=borrower&status=ACTIVE&limit=20'),
    );
    op.answer = describe(listed);
    if (listed?.status !== 200) return;
    const loans = (JSON.parse(listed.body) as { items: { id: string; outstanding: number }[] }).items;
    const loan = loans.find((l) => l.outstanding >= op.amount);
    if (!loan) {
      op.answer = 'no active loan owing that much';
      return;
    }
    op.loanId = loan.id;
    const path = `/api/loans/${loan.id}/repay`;
    const body = { amount: op.amount, pin: this.client.pin };
    op.sent = true;
    const answer = await this.persist(() => this.client.asUser(op.phone, 'POST', path, { key: op.key, body }));
    op.answer = describe(answer);
    if (answer?.status !== 200) return;
    op.acked = 'online';
    op.final = { via: 'rest', method: 'POST', path, key: op.key!, body, id: loan.id };
  }

  private async restPayment(op: Operation, path: string, body: unknown): Promise<void> {
    op.sent = true;
    const answer = await this.persist(() => this.client.asUser(op.phone, 'POST', path, { key: op.key, body }));
    op.answer = describe(answer);
    if (answer?.status !== 202) return;
    op.acked = 'online';
    op.paymentId = idOf(answer.body);
    if (op.paymentId) op.final = { via: 'rest', method: 'POST', path, key: op.key!, body, id: op.paymentId };
  }

  private async payBill(op: Operation): Promise<void> {
    op.sent = true;
    const answer = await this.client.payBill(local(op.phone), op.amount, op.phone);
    op.answer = describe(answer);
    if (answer?.status !== 200) return;
    const paid = JSON.parse(answer.body) as {
      transId: string;
      completed: boolean;
      confirmation?: { status?: number; response?: { ResultCode?: unknown }; text: string };
    };
    op.transId = paid.transId;
    const confirmation = paid.confirmation;
    if (!paid.completed || confirmation?.status !== 200 || String(confirmation.response?.ResultCode) !== '0') {
      op.answer = `confirmation answered ${confirmation?.status ?? 'nothing'}`;
      return;
    }
    op.acked = 'online';
    op.final = { via: 'confirmation', text: confirmation.text };
  }

  private async replayLoop(): Promise<void> {
    while (!this.stopped && !this.done()) {
      const now = Date.now();
      const due = this.replays.filter((r) => r.at <= now);
      for (const r of due) this.replays.splice(this.replays.indexOf(r), 1);
      await Promise.all(due.map(({ op }) => this.replay(op)));
      await sleep(200);
    }
  }

  /** Sends an acknowledged operation's last request again, as it was; notes any disagreement. */
  private async replay(op: Operation): Promise<void> {
    const final = op.final;
    if (!final) return;
    op.replays += 1;
    this.stats.replaysSent += 1;
    if (final.via === 'ussd') {
      const reply = await this.client.ussd(op.phone, final.sessionId, final.text);
      if (reply === null) return;
      this.stats.replaysAnswered += 1;
      // A "not now" screen (Redis or the database away) is an answer, not a disagreement.
      if (reply !== final.reply && !/unavailable|busy|try again/i.test(reply))
        op.disagreements.push(`USSD replay answered ${JSON.stringify(reply)} (first: ${JSON.stringify(final.reply)})`);
      return;
    }
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const answer =
        final.via === 'rest'
          ? await this.client.asUser(op.phone, final.method, final.path, { key: final.key, body: final.body })
          : await this.client.confirmAgain(final.text);
      if (answer && answer.status < 500) {
        this.stats.replaysAnswered += 1;
        const id = final.via === 'rest' ? idOf(answer.body) : undefined;
        const agrees =
          final.via === 'rest'
            ? answer.status < 300 && id === final.id
            : answer.status === 200 && /"ResultCode":\s*"?0"?/.test(answer.body);
        if (!agrees) op.disagreements.push(`replay answered ${answer.status} ${answer.body.slice(0, 200)}`);
        return;
      }
      await sleep(2_000);
    }
  }
}
