import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { NotificationsService } from '../src/notifications/notifications.service.js';
import { formatLocal } from '../src/users/phone-number.js';
import { eventually } from './support/eventually.js';
import { freePort } from './support/processes.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

/** `npm run dial` (scripts/dial.ts) against a listening app: scripted with --script, and through a pipe. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSX = fileURLToPath(new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url));

function dial(args: string[], stdin?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const { NODE_OPTIONS: _ignored, ...env } = process.env;
    const child = spawn(process.execPath, [TSX, 'scripts/dial.ts', ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
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

describe('the terminal dialer (npm run dial)', () => {
  let app: NestFastifyApplication;
  let base: string;

  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    ({ app } = await startTestApp({ MPESA_CALLBACK_BASE_URL: base }));
    await app.listen(port, '127.0.0.1');
  });
  afterAll(() => app?.close());

  const borrower = uniquePhone();
  const lender = uniquePhone();

  it('runs a scripted loan request and prints every screen, ending on END', async () => {
    const { code, out } = await dial([formatLocal(borrower), '--url', base, '--script', `1,${formatLocal(lender)},5000,500,1,4821,4821,00,0,n`]);
    expect(code).toBe(0);
    for (const screen of [
      '│ M-PESA LOANS\n│ 1. Request Loan',
      '│ REQUEST LOAN\n│ Enter lender phone:',
      '│ CONFIRM LOAN\n│ Lender: ' + lender,
      '│ Create a 4-digit PIN',
      '│ Confirm PIN',
      `│ SUCCESS\n│ Loan request sent to ${lender}\n│ 0. Back 00. Home\n└─\n`,
      '│ Thank you for using M-PESA Loans.\n└─ session ended\nDial again? [Y/n] n\n',
    ]) {
      expect(out).toContain(screen);
    }
  }, 45_000);

  it('reads a pipe: shows the SMS, sets the next M-PESA outcome, tops up, dials again and quits', async () => {
    const stdin = [':sms', ':mpesa cancelled', ':mpesa free_money', '7', '1', '250', '', '0', ':quit', ''].join('\n');
    const { code, out } = await dial([formatLocal(lender), '--url', base], stdin);
    expect(code).toBe(0);
    expect(out).toContain(`Latest SMS to ${lender} (newest first):`);
    expect(out).toContain(`Deni: ${formatLocal(borrower)} asks you for a loan of Ksh 5000, repaid Ksh 500 per deposit.`);
    expect(out).toContain(`Next M-PESA request of ${lender}: cancelled`);
    expect(out).toMatch(/Could not set the outcome: outcome: outcome must be one of the following values/);
    expect(out).toContain('│ M-PESA will ask for your PIN on this phone to add Ksh 250. You will get an SMS when it is in your wallet.\n└─ session ended');
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
  }, 45_000);

  it('says so when nothing answers', async () => {
    const port = await freePort();
    const { code, out } = await dial(['0712345678', '--url', `http://127.0.0.1:${port}`, '--script', '1']);
    expect(code).toBe(1);
    expect(out).toContain(`Could not reach http://127.0.0.1:${port} (ECONNREFUSED)`);
  }, 45_000);
});
