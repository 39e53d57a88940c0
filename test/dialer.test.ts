import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { DarajaSimulator } from '../src/simulators/daraja/daraja-simulator.js';
import { NotificationsService } from '../src/notifications/notifications.service.js';
import { localDigits } from '../src/common/phone-number.js';
import { local } from './support/ussd-clients.js';
import { ADMIN_KEY } from './support/api-client.js';
import { eventually } from './support/eventually.js';
import { freePort } from './support/processes.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

/**
 * `npm run dial` (scripts/dial.ts) against a listening app that has an admin key: scripted with
 * --script, through a pipe, and typed line by line as the screens come.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSX = fileURLToPath(new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url));

/** The dialer's environment: this one without NODE_OPTIONS (Jest's) and ADMIN_API_KEY (its --key default), plus `extra`. */
function dialerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _options, ADMIN_API_KEY: _key, ...env } = process.env;
  return { ...env, ...extra };
}

function dial(args: string[], stdin?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSX, 'scripts/dial.ts', ...args], {
      cwd: ROOT,
      env: dialerEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
    child.stdin.end(stdin ?? '');
  });
}

/** Interactive dialers still running (a failed test leaves its own): afterAll ends them. */
const running = new Set<ChildProcess>();

/** A dialer typed into line by line: `type` a line once `waitFor` has seen what it answers. */
function interactive(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [TSX, 'scripts/dial.ts', ...args], {
    cwd: ROOT,
    env: dialerEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  child.on('close', () => {
    running.delete(child);
    clearTimeout(timer);
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    output: () => out,
    type(line: string): void {
      child.stdin.write(`${line}\n`);
    },
    /** Waits until the output, from `from` on, matches; returns that part of it. */
    async waitFor(expected: string | RegExp, from = 0, timeoutMs = 15_000): Promise<string> {
      const seen = () => {
        const part = out.slice(from);
        return typeof expected === 'string' ? part.includes(expected) : expected.test(part);
      };
      await eventually(seen, Boolean, timeoutMs).catch(() => {
        throw new Error(`the dialer never printed ${String(expected)}; it printed:\n${out}`);
      });
      return out.slice(from);
    },
    async end(): Promise<{ code: number | null; out: string }> {
      child.stdin.end();
      return { code: await exited, out };
    },
  };
}

describe('the terminal dialer (npm run dial)', () => {
  let app: NestFastifyApplication;
  let daraja: DarajaSimulator;
  let base: string;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    ({ app, daraja } = await startTestApp({ MPESA_CALLBACK_BASE_URL: base, ADMIN_API_KEY: ADMIN_KEY }));
    await app.listen(port, '127.0.0.1');
  });
  afterAll(async () => {
    for (const child of running) child.kill('SIGKILL');
    await app?.close();
  });

  /** A scripted dial in which `borrower` asks `lender` for Ksh 5000, repaid 500 per deposit. */
  const requestLoan = (borrower: string, lender: string) =>
    dial([localDigits(borrower), '--url', base, '--script', `1,${localDigits(lender)},5000,500,1,4821,4821,00,0,n`]);

  it('runs a scripted loan request and prints every screen, ending on END', async () => {
    const borrower = uniquePhone();
    const lender = uniquePhone();
    const { code, out } = await requestLoan(borrower, lender);
    expect(code).toBe(0);
    for (const screen of [
      '│ M-PESA LOANS\n│ 1. Request Loan',
      '│ REQUEST LOAN\n│ Enter lender phone:',
      '│ CONFIRM LOAN\n│ Lender: ' + local(lender),
      '│ Create a 4-digit PIN',
      '│ Confirm PIN',
      `│ SUCCESS\n│ Loan request sent to ${local(lender)}\n│ 0. Back 00. Home\n└─\n`,
      '│ Thank you for using M-PESA Loans.\n└─ session ended\nDial again? [Y/n] n\n',
    ]) {
      expect(out).toContain(screen);
    }
  }, 45_000);

  it('reads a pipe: shows the SMS, sets the next M-PESA outcome, tops up, dials again and quits', async () => {
    // Its own loan request, so the lender has an SMS whatever order the tests run in.
    const borrower = uniquePhone();
    const lender = uniquePhone();
    expect((await requestLoan(borrower, lender)).code).toBe(0);
    const stdin = [':sms', ':mpesa cancelled', ':mpesa free_money', '7', '1', '250', '', '0', ':quit', ''].join('\n');
    const { code, out } = await dial([localDigits(lender), '--url', base, `--key=${ADMIN_KEY}`], stdin);
    expect(code).toBe(0);
    expect(out).toContain(`Latest SMS to ${lender} (newest first):`);
    expect(out).toContain(`Deni: ${local(borrower)} asks you for a loan of Ksh 5000, repaid Ksh 500 per deposit.`);
    expect(out).toContain(`Next M-PESA request of ${lender}: cancelled`);
    expect(out).toMatch(/Could not set the outcome: outcome: outcome must be one of the following values/);
    expect(out).toContain(
      '│ M-PESA will ask for your PIN on this phone to add Ksh 250. You will get an SMS when it is in your wallet.\n└─ session ended',
    );
    // "Dial again?" answered with Enter: a second session, exited with 0, then :quit.
    expect(out.match(/│ M-PESA LOANS/g)).toHaveLength(2);
    expect(out).toContain('│ Thank you for using M-PESA Loans.\n└─ session ended\nDial again? [Y/n] :quit\n');
    const sms = await eventually(
      () => app.get(NotificationsService).listForPhone(lender),
      (rows) => rows.some((n) => n.template === 'mpesa.topup_failed'),
      15_000,
    );
    expect(sms.find((n) => n.template === 'mpesa.topup_failed')?.body).toBe(
      'Deni: your top-up of Ksh 250 did not go through: you cancelled the request. Nothing was taken.',
    );
  }, 90_000);

  it("lists the number's pending top-ups and delivers an outcome to one (key from ADMIN_API_KEY)", async () => {
    const number = uniquePhone();
    const dialer = interactive([localDigits(number), '--url', base], { ADMIN_API_KEY: ADMIN_KEY });
    await dialer.waitFor('│ M-PESA LOANS');
    let mark = dialer.output().length;
    dialer.type(':pending');
    await dialer.waitFor(`No pending top-ups for ${number}.`, mark);
    dialer.type(':mpesa hold');
    await dialer.waitFor(`Next M-PESA request of ${number}: hold`, mark);
    for (const [reply, screen] of [
      ['7', 'Top up'],
      ['1', 'TOP UP'],
      ['300', 'Dial again? [Y/n] '],
    ] as const) {
      dialer.type(reply);
      await dialer.waitFor(screen, mark);
      mark = dialer.output().length;
    }
    // The STK push reaches the Daraja simulator shortly after the END screen, and waits there.
    const [held] = await eventually(
      () => daraja.pendingStkPushes(number),
      (p) => p.length === 1,
    );

    dialer.type(':pending');
    const listed = await dialer.waitFor('Answer one with :deliver', mark);
    expect(listed).toContain(
      `:pending\nPending top-ups of ${number} (oldest first):\n  1. Ksh 300, held (${held.checkoutRequestId}, `,
    );
    mark = dialer.output().length;
    dialer.type(':deliver hold 1');
    expect(await dialer.waitFor('Could not deliver the outcome', mark)).toMatch(
      /Could not deliver the outcome: outcome: outcome must be one of the following values/,
    );
    mark = dialer.output().length;
    dialer.type(':deliver success 2');
    expect(await dialer.waitFor('No top-up number 2', mark)).toContain('No top-up number 2 (1 pending: see :pending).');
    mark = dialer.output().length;
    dialer.type(':deliver success');
    expect(await dialer.waitFor('Delivered', mark)).toContain(
      `Delivered success to the Ksh 300 top-up ${held.checkoutRequestId}: M-PESA's callback goes to Deni now`,
    );
    expect(daraja.pendingStkPushes(number)).toEqual([]);

    // Deni's callback route credits the wallet and queues the SMS, which :sms then shows.
    await eventually(
      () => app.get(NotificationsService).listForPhone(number),
      (rows) => rows.some((n) => n.body.includes('Ksh 300 received')),
      15_000,
    );
    mark = dialer.output().length;
    dialer.type(':sms');
    expect(await dialer.waitFor('Ksh 300 received', mark)).toContain('Ksh 300 received. New balance: Ksh 300');
    mark = dialer.output().length;
    dialer.type(':pending');
    await dialer.waitFor(`No pending top-ups for ${number}.`, mark);
    mark = dialer.output().length;
    dialer.type(`:deliver success ${held.checkoutRequestId}`);
    expect(await dialer.waitFor('Could not deliver', mark)).toContain(
      'Could not deliver the outcome: No pending top-up with this CheckoutRequestID (unknown, or already answered)',
    );
    dialer.type(':quit');
    expect((await dialer.end()).code).toBe(0);
  }, 60_000);

  it('says what to do when the service wants the admin key and it is missing or wrong', async () => {
    const number = localDigits(uniquePhone());
    const without = await dial([number, '--url', base, '--script', ':sms,:mpesa hold,:pending,:deliver success,:quit']);
    expect(without.code).toBe(0);
    const needed =
      "the simulator's control routes need the admin key (401): pass --key=<ADMIN_API_KEY>, or set ADMIN_API_KEY";
    for (const what of ['Could not read the SMS', 'Could not set the outcome', 'Could not read the pending top-ups']) {
      expect(without.out).toContain(`${what}: ${needed}`);
    }
    // :pending and :deliver both start by reading the pending top-ups.
    expect(without.out.split(needed)).toHaveLength(5);
    // The USSD webhook itself needs no admin key.
    expect(without.out).toContain('│ M-PESA LOANS');

    const wrong = await dial([number, '--url', base, '--key=not-the-admin-key-123', '--script', ':sms,:quit']);
    expect(wrong.out).toContain(
      'Could not read the SMS: the service refused the admin key (401): check --key (or ADMIN_API_KEY) against its ADMIN_API_KEY',
    );
  }, 45_000);

  it('says so when nothing answers', async () => {
    const port = await freePort();
    const { code, out } = await dial(['0712345678', '--url', `http://127.0.0.1:${port}`, '--script', '1']);
    expect(code).toBe(1);
    expect(out).toContain(`Could not reach http://127.0.0.1:${port} (ECONNREFUSED)`);
  }, 45_000);
});
