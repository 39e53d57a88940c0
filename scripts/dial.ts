/**
 * A USSD phone in the terminal: dials *383# on a running Deni (`npm start`) through the real
 * webhook in the Africa's Talking format (form-urlencoded; `text` is every input so far joined by
 * `*`; the answer is `CON …` or `END …`), prints each screen and reads your reply.
 *
 *   npm run dial -- 0712345678 [--url http://127.0.0.1:5000] [--script "1,0722000000,5000,500,1"]
 *
 * Commands at any prompt: `:sms` (the number's latest SMS), `:mpesa <outcome>` (how the simulated
 * M-PESA answers this number's next top-up or withdrawal), `:help`, `:quit`. `:sms` and `:mpesa`
 * use the simulator routes (/simulator/api, on while SIMULATOR_ENABLED). With `--script`, the
 * comma-separated entries are typed one after the other and the dialer stops when they run out;
 * without it, lines are read from standard input (a terminal or a pipe).
 */
import { randomUUID } from 'node:crypto';
import { createInterface, type Interface } from 'node:readline';
import { parseArgs } from 'node:util';
import { parseKenyanMobile } from '../src/users/phone-number.js';

const USAGE = 'Usage: npm run dial -- <phone number> [--url http://127.0.0.1:5000] [--script "1,0722000000,…"] [--secret <USSD_WEBHOOK_SECRET>] [--code "*383#"]';
const HELP = 'Type a reply and press Enter. Commands: :sms (latest SMS), :mpesa <outcome> (next M-PESA answer), :help, :quit';

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
    const line = this.queued.length ? this.queued.shift()! : this.closed ? null : await new Promise<string | null>((r) => this.waiting.push(r));
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
      body: new URLSearchParams({ sessionId, serviceCode: this.serviceCode, phoneNumber: this.gatewayNumber, networkCode: '63902', text }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = await res.text();
    if (!res.ok) throw new Error(`the webhook answered ${res.status}: ${body.slice(0, 200)}`);
    return { message: body.replace(/^(CON|END) ?/, ''), ended: !body.startsWith('CON') };
  }

  async sms(): Promise<void> {
    const res = await fetch(`${this.url}/simulator/api/sms?${new URLSearchParams({ phoneNumber: this.msisdn, limit: '5' })}`);
    if (res.status === 404) return say('The simulator routes are off on this service (SIMULATOR_ENABLED=false).');
    const body = (await res.json()) as { body: string; createdAt: string; template: string; message?: string }[] | { message?: string };
    if (!res.ok || !Array.isArray(body)) return say(`Could not read the SMS: ${(body as { message?: string }).message ?? res.status}`);
    if (!body.length) return say(`No SMS for ${this.msisdn} yet.`);
    say(`Latest SMS to ${this.msisdn} (newest first):`);
    for (const sms of body) say(`  [${new Date(sms.createdAt).toLocaleTimeString()}] ${sms.body}`);
  }

  async mpesa(outcome: string | undefined): Promise<void> {
    const res = await fetch(`${this.url}/simulator/api/mpesa/outcome`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phoneNumber: this.msisdn, outcome: outcome ?? '' }),
    });
    if (res.status === 404) return say('The simulator routes are off on this service (SIMULATOR_ENABLED=false).');
    const body = (await res.json()) as { message?: string };
    if (!res.ok) return say(`Could not set the outcome: ${body.message ?? res.status}`);
    say(`Next M-PESA request of ${this.msisdn}: ${outcome}`);
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
  const [name, arg] = line.slice(1).split(/\s+/);
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
  const dialer = new Dialer(phone.msisdn, url, values.code, values.secret || undefined);
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
