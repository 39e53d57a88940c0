/**
 * A USSD phone in the terminal: dials *383# on a running Deni (`npm start`) through the real
 * webhook in the Africa's Talking format (form-urlencoded; `text` is every input so far joined by
 * `*`; the answer is `CON …` or `END …`), prints each screen and reads your reply.
 *
 *   npm run dial -- 0712345678 [--url http://127.0.0.1:5000] [--script "1,0722000000,5000,500,1"] [--key=<ADMIN_API_KEY>]
 *
 * Commands at any prompt: `:sms` (the number's latest SMS), `:mpesa <outcome>` (how the simulated
 * M-PESA answers this number's next top-up or withdrawal), `:pending` (this number's top-ups
 * waiting for M-PESA's answer, e.g. held by `:mpesa hold`), `:deliver <outcome> [n]` (answer one
 * of them now: the n-th listed, or a CheckoutRequestID; the oldest by default), `:help`, `:quit`.
 * These use the simulator's control routes (/simulator/api, on while SIMULATOR_ENABLED), which
 * take the admin key: `--key`, by default $ADMIN_API_KEY (a service without one leaves them open).
 * With `--script`, the comma-separated entries are typed one after the other and the dialer stops
 * when they run out; without it, lines are read from standard input (a terminal or a pipe).
 */
import { randomUUID } from 'node:crypto';
import { createInterface, type Interface } from 'node:readline';
import { parseArgs } from 'node:util';
import { parseKenyanMobile } from '../src/common/phone-number.js';

const USAGE =
  'Usage: npm run dial -- <phone number> [--url http://127.0.0.1:5000] [--script "1,0722000000,…"] [--secret <USSD_WEBHOOK_SECRET>] [--key=<ADMIN_API_KEY>] [--code "*383#"]';
const HELP =
  'Type a reply and press Enter. Commands: :sms (latest SMS), :mpesa <outcome> (next M-PESA answer), :pending (top-ups waiting for M-PESA), :deliver <outcome> [n] (answer one), :help, :quit';

interface ErrorBody {
  code?: string;
  message?: string;
}

interface PendingTopUp {
  checkoutRequestId: string;
  amount: number;
  requestedAt: string;
  held: boolean;
}

/** What a control route answered: its body, or why it could not be used (already worded for the terminal). */
type ControlAnswer<T> = { ok: true; body: T } | { ok: false; problem: string };

/** Where the lines come from: the --script list, or standard input through node:readline. */
class Lines {
  private readonly queued: string[] = [];
  private readonly waiting: ((line: string | null) => void)[] = [];
  private closed = false;
  private readonly rl?: Interface;
  private readonly echo: boolean;

  constructor(script: string[] | undefined) {
    if (script) {
      this.queued.push(...script);
      this.closed = true;
      this.echo = true;
      return;
    }
    this.echo = !process.stdin.isTTY;
    this.rl = createInterface({ input: process.stdin, output: process.stdout, terminal: Boolean(process.stdin.isTTY) });
    // Lines that arrive before they are asked for (a pipe) wait in the queue.
    this.rl.on('line', (line) => {
      const waiter = this.waiting.shift();
      if (waiter) waiter(line);
      else this.queued.push(line);
    });
    this.rl.on('close', () => {
      this.closed = true;
      for (const waiter of this.waiting.splice(0)) waiter(null);
    });
  }

  /** The next line, trimmed; null when there are no more. */
  async next(prompt: string): Promise<string | null> {
    process.stdout.write(prompt);
    const line = this.queued.length
      ? this.queued.shift()!
      : this.closed
        ? null
        : await new Promise<string | null>((r) => this.waiting.push(r));
    if (line === null) {
      process.stdout.write('\n');
      return null;
    }
    if (this.echo) process.stdout.write(`${line}\n`);
    return line.trim();
  }

  close(): void {
    this.rl?.close();
  }
}

class Dialer {
  private readonly gatewayNumber: string;

  constructor(
    private readonly msisdn: string,
    private readonly url: string,
    private readonly serviceCode: string,
    private readonly secret: string | undefined,
    private readonly adminKey: string | undefined,
  ) {
    this.gatewayNumber = `+${msisdn}`;
  }

  /** One request to the webhook; returns the screen and whether the session ended. */
  async send(sessionId: string, text: string): Promise<{ message: string; ended: boolean }> {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
    if (this.secret) headers['x-ussd-secret'] = this.secret;
    const res = await fetch(`${this.url}/api/ussd/handler`, {
      method: 'POST',
      headers,
      body: new URLSearchParams({
        sessionId,
        serviceCode: this.serviceCode,
        phoneNumber: this.gatewayNumber,
        networkCode: '63902',
        text,
      }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = await res.text();
    if (!res.ok) throw new Error(`the webhook answered ${res.status}: ${body.slice(0, 200)}`);
    return { message: body.replace(/^(CON|END) ?/, ''), ended: !body.startsWith('CON') };
  }

  /**
   * One call to the simulator's control routes (/simulator/api/…), with the admin key when there
   * is one. A 401 (no key or a wrong one) and a 404 of the router (SIMULATOR_ENABLED off) come back
   * as what to do about it; any other refusal as the service's message.
   */
  private async control<T>(path: string, body?: Record<string, unknown>): Promise<ControlAnswer<T>> {
    const headers: Record<string, string> = {};
    if (this.adminKey) headers['x-api-key'] = this.adminKey;
    if (body) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.url}/simulator/api/${path}`, {
      method: body ? 'POST' : 'GET',
      headers,
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(15_000),
    });
    const parsed: unknown = await res.json().catch(() => ({}));
    if (res.ok) return { ok: true, body: parsed as T };
    const error = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as ErrorBody;
    if (res.status === 401) {
      return {
        ok: false,
        problem: this.adminKey
          ? 'the service refused the admin key (401): check --key (or ADMIN_API_KEY) against its ADMIN_API_KEY'
          : "the simulator's control routes need the admin key (401): pass --key=<ADMIN_API_KEY>, or set ADMIN_API_KEY",
      };
    }
    if (res.status === 404 && !error.code?.startsWith('SIMULATOR.')) {
      return { ok: false, problem: 'the simulator routes are off on this service (SIMULATOR_ENABLED=false)' };
    }
    return { ok: false, problem: error.message ?? `HTTP ${res.status}` };
  }

  async sms(): Promise<void> {
    const res = await this.control<{ body: string; createdAt: string; template: string }[]>(
      `sms?${new URLSearchParams({ phoneNumber: this.msisdn, limit: '5' }).toString()}`,
    );
    if (!res.ok) return say(`Could not read the SMS: ${res.problem}`);
    if (!res.body.length) return say(`No SMS for ${this.msisdn} yet.`);
    say(`Latest SMS to ${this.msisdn} (newest first):`);
    for (const sms of res.body) say(`  [${new Date(sms.createdAt).toLocaleTimeString()}] ${sms.body}`);
  }

  async mpesa(outcome: string | undefined): Promise<void> {
    const res = await this.control('mpesa/outcome', { phoneNumber: this.msisdn, outcome: outcome ?? '' });
    if (!res.ok) return say(`Could not set the outcome: ${res.problem}`);
    say(`Next M-PESA request of ${this.msisdn}: ${outcome}`);
  }

  /** This number's top-ups the Daraja simulator has not answered yet, oldest first; undefined when they could not be read. */
  private async pendingTopUps(): Promise<PendingTopUp[] | undefined> {
    const res = await this.control<PendingTopUp[]>(
      `mpesa/pending?${new URLSearchParams({ phoneNumber: this.msisdn }).toString()}`,
    );
    if (res.ok) return res.body;
    say(`Could not read the pending top-ups: ${res.problem}`);
    return undefined;
  }

  async pending(): Promise<void> {
    const pending = await this.pendingTopUps();
    if (!pending) return;
    if (!pending.length) return say(`No pending top-ups for ${this.msisdn}.`);
    say(`Pending top-ups of ${this.msisdn} (oldest first):`);
    pending.forEach((p, i) =>
      say(
        `  ${i + 1}. Ksh ${p.amount}, ${p.held ? 'held' : 'answering…'} (${p.checkoutRequestId}, ${new Date(p.requestedAt).toLocaleTimeString()})`,
      ),
    );
    say('Answer one with :deliver <outcome> [n], e.g. :deliver success 1');
  }

  /** Delivers `outcome` to a pending top-up: the n-th of :pending, a CheckoutRequestID, or the oldest. */
  async deliver(outcome: string | undefined, target: string | undefined): Promise<void> {
    if (!outcome)
      return say('Usage: :deliver <outcome> [n | CheckoutRequestID], e.g. :deliver success 1 (see :pending)');
    let push: { checkoutRequestId: string; amount?: number };
    if (target && !/^\d+$/.test(target)) {
      push = { checkoutRequestId: target };
    } else {
      const pending = await this.pendingTopUps();
      if (!pending) return;
      const index = target ? Number(target) - 1 : 0;
      const found = pending[index];
      if (!found) {
        return say(
          pending.length
            ? `No top-up number ${target} (${pending.length} pending: see :pending).`
            : `No pending top-ups for ${this.msisdn}.`,
        );
      }
      push = found;
    }
    const res = await this.control(`mpesa/pending/${encodeURIComponent(push.checkoutRequestId)}`, { outcome });
    if (!res.ok) return say(`Could not deliver the outcome: ${res.problem}`);
    const what =
      push.amount === undefined
        ? `top-up ${push.checkoutRequestId}`
        : `Ksh ${push.amount} top-up ${push.checkoutRequestId}`;
    say(`Delivered ${outcome} to the ${what}: M-PESA's callback goes to Deni now (:sms shows the SMS that follows).`);
  }
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function printScreen(serviceCode: string, message: string, ended: boolean): void {
  say(`┌─ ${serviceCode}`);
  for (const line of message.split('\n')) say(`│ ${line}`);
  say(ended ? '└─ session ended' : '└─');
}

/** Handles `:…` commands; returns 'quit' for :quit, true when the line was a command. */
async function command(dialer: Dialer, line: string): Promise<boolean | 'quit'> {
  if (!line.startsWith(':')) return false;
  const [name, arg, arg2] = line.slice(1).trim().split(/\s+/);
  switch (name) {
    case 'quit':
    case 'q':
      return 'quit';
    case 'sms':
      await dialer.sms();
      return true;
    case 'mpesa':
      await dialer.mpesa(arg);
      return true;
    case 'pending':
      await dialer.pending();
      return true;
    case 'deliver':
      await dialer.deliver(arg, arg2);
      return true;
    default:
      say(HELP);
      return true;
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: 'string', default: `http://127.0.0.1:${process.env.PORT ?? 5000}` },
      script: { type: 'string' },
      secret: { type: 'string', default: process.env.USSD_WEBHOOK_SECRET },
      // The admin key for the simulator's control routes (:sms, :mpesa, :pending, :deliver).
      key: { type: 'string', default: process.env.ADMIN_API_KEY },
      code: { type: 'string', default: '*383#' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || positionals.length !== 1) {
    say(USAGE);
    return values.help ? 0 : 64;
  }
  const phone = parseKenyanMobile(positionals[0]);
  if (!phone.ok) {
    say(`${positionals[0]}: ${phone.reason}`);
    return 64;
  }
  const url = values.url.replace(/\/+$/, '');
  const dialer = new Dialer(phone.msisdn, url, values.code, values.secret || undefined, values.key || undefined);
  const lines = new Lines(values.script?.split(',').map((s) => s.trim()));
  say(`Dialling ${values.code} from ${phone.msisdn} on ${url}. ${HELP}`);

  try {
    for (;;) {
      const sessionId = `ATUid_${randomUUID()}`;
      let text = '';
      let screen = await dialer.send(sessionId, text);
      printScreen(values.code, screen.message, screen.ended);
      while (!screen.ended) {
        const line = await lines.next('> ');
        if (line === null) return 0;
        const handled = await command(dialer, line);
        if (handled === 'quit') return 0;
        if (handled) continue;
        text = text === '' ? line : `${text}*${line}`;
        screen = await dialer.send(sessionId, text);
        printScreen(values.code, screen.message, screen.ended);
      }
      let again: string | null;
      for (;;) {
        again = await lines.next('Dial again? [Y/n] ');
        if (again === null) return 0;
        const handled = await command(dialer, again);
        if (handled === 'quit') return 0;
        if (!handled) break;
      }
      if (/^n/i.test(again)) return 0;
    }
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    say(
      e instanceof TypeError && cause
        ? `Could not reach ${url} (${cause.code ?? cause.message}): is Deni running (\`npm start\`)? Pass --url otherwise.`
        : `Error: ${(e as Error).message}`,
    );
    return 1;
  } finally {
    lines.close();
  }
}

process.exitCode = await main();
