import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { localDigits } from '../src/common/phone-number.js';
import { local } from './support/ussd-clients.js';
import { ADMIN_KEY } from './support/api-client.js';
import { ensureChromium } from './support/chromium.js';
import { productionEnv } from './support/production-env.js';
import { freePort } from './support/processes.js';
import { startTestApp, testConfig, uniquePhone } from './support/test-app.js';

/**
 * The phone simulator page (/simulator) in a real browser (Debian's chromium through
 * playwright-core), against a service with an admin key (ADMIN_API_KEY) that the page is given
 * once as /simulator?key=… (then kept in the tab's sessionStorage): a loan request between two
 * numbers, the lender's SMS, a top-up whose simulated M-PESA outcome is chosen on the page
 * beforehand, and one held pending until an outcome is delivered to it from the page; and a page
 * without the key, which says so and takes it in its Admin key field. Screenshots go to
 * test/artifacts/ (git-ignored).
 */
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const PIN = '4821';

describe('the phone simulator page in a browser', () => {
  let app: NestFastifyApplication;
  let base: string;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const executablePath = ensureChromium();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    ({ app } = await startTestApp({ MPESA_CALLBACK_BASE_URL: base, ADMIN_API_KEY: ADMIN_KEY }));
    await app.listen(port, '127.0.0.1');
    browser = await chromium.launch({
      executablePath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 15 * 60_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  const screen = () => page.locator('#screen');

  /** The admin key the page keeps in its tab's sessionStorage (null when none). */
  const storedKey = (tab: Page) =>
    tab.evaluate(() =>
      (globalThis as unknown as { sessionStorage: { getItem(name: string): string | null } }).sessionStorage.getItem(
        'deni-simulator-admin-key',
      ),
    );

  /**
   * Waits until the phone's screen shows `text` (the page answers asynchronously). The waits are
   * generous: they catch a page that never answers, not a slow one on a busy machine. Case matters:
   * Playwright's string `hasText` ignores case, so 'BALANCE' would already match the menu's
   * "4. View Balance" before the balance screen arrives.
   */
  async function shows(text: string | RegExp): Promise<string> {
    const pattern = typeof text === 'string' ? new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : text;
    await page.locator('#screen', { hasText: pattern }).waitFor({ timeout: 30_000 });
    return screen().innerText();
  }

  async function dialFrom(number: string): Promise<string> {
    await page.getByLabel('Phone number').fill(number);
    await page.getByLabel('Phone number').dispatchEvent('change');
    await page.getByRole('button', { name: /^Dial/ }).click();
    return shows('M-PESA LOANS');
  }

  async function reply(input: string, expected: string | RegExp): Promise<string> {
    await page.getByLabel('Reply').fill(input);
    await page.getByRole('button', { name: 'Send' }).click();
    return shows(expected);
  }

  it('requests a loan from another number, and the lender gets the SMS', async () => {
    const borrower = localDigits(uniquePhone());
    const lender = localDigits(uniquePhone());
    // The key once in the URL: the page keeps it for the tab and takes it out of the address bar.
    await page.goto(`${base}/simulator?key=${encodeURIComponent(ADMIN_KEY)}`);
    await page.getByRole('heading', { name: 'Deni phone simulator' }).waitFor();
    expect(page.url()).toBe(`${base}/simulator`);
    await page.locator('#key-status', { hasText: 'Key accepted' }).waitFor({ timeout: 30_000 });
    expect(await page.getByLabel('Admin key').inputValue()).toBe(ADMIN_KEY);

    expect(await dialFrom(borrower)).toContain('1. Request Loan');
    await reply('1', 'Enter lender phone:');
    await reply(lender, 'Enter loan amount (Ksh):');
    await reply('5000', 'Enter repayment per deposit (Ksh):');
    expect(await reply('500', 'CONFIRM LOAN')).toContain('Amount: Ksh 5000');
    await reply('1', 'Create a 4-digit PIN');
    await reply(PIN, 'Confirm PIN');
    // The keypad types the confirmation, as a thumb would.
    for (const digit of PIN)
      await page.getByRole('group', { name: 'Keypad' }).getByRole('button', { name: digit, exact: true }).click();
    await page.getByRole('button', { name: 'Send' }).click();
    expect(await shows('SUCCESS')).toBe(`SUCCESS\nLoan request sent to ${local(lender)}\n0. Back 00. Home`);
    await page.screenshot({ path: `${ARTIFACTS}simulator-loan-request.png`, fullPage: true });

    await reply('00', 'M-PESA LOANS');
    expect(await reply('0', 'Thank you')).toBe('Thank you for using M-PESA Loans.');
    expect(await page.locator('#session-state').innerText()).toBe('Session ended');
    expect(await page.getByLabel('Reply').isDisabled()).toBe(true);

    // The lender's phone: the request arrived by SMS.
    await page.getByLabel('Phone number').fill(lender);
    await page.getByLabel('Phone number').dispatchEvent('change');
    const sms = page.locator('#sms li', { hasText: 'asks you for a loan of Ksh 5000' });
    await sms.waitFor({ timeout: 30_000 });
    expect(await sms.innerText()).toContain(
      `Deni: ${local(borrower)} asks you for a loan of Ksh 5000, repaid Ksh 500 per deposit. Dial *383# and choose 3 to answer.`,
    );
    await page.screenshot({ path: `${ARTIFACTS}simulator-lender-sms.png`, fullPage: true });
  }, 60_000);

  it('tops up with a simulated M-PESA outcome chosen on the page, and shows the SMS that follows', async () => {
    const number = localDigits(uniquePhone());
    // With the key: the test must not depend on an earlier test having given it to the tab.
    await page.goto(`${base}/simulator?key=${encodeURIComponent(ADMIN_KEY)}`);
    await page.getByLabel('Phone number').fill(number);
    await page.getByLabel('Phone number').dispatchEvent('change');
    await page.getByLabel('Outcome').selectOption('cancelled');
    await page.getByRole('button', { name: 'Set outcome' }).click();
    await page
      .locator('#mpesa-status', { hasText: `Next M-PESA request of ${number}: cancelled` })
      .waitFor({ timeout: 30_000 });

    await dialFrom(number);
    await reply('7', 'Top up');
    await reply('1', 'TOP UP');
    expect(await reply('250', 'M-PESA will ask')).toBe(
      'M-PESA will ask for your PIN on this phone to add Ksh 250. You will get an SMS when it is in your wallet.',
    );
    // The simulator calls back with "cancelled"; the page polls the outbox.
    const sms = page.locator('#sms li', { hasText: 'did not go through' });
    await sms.waitFor({ timeout: 20_000 });
    expect(await sms.innerText()).toContain(
      'Deni: your top-up of Ksh 250 did not go through: you cancelled the request. Nothing was taken.',
    );
    await page.screenshot({ path: `${ARTIFACTS}simulator-topup-cancelled.png`, fullPage: true });
  }, 60_000);

  it('holds a top-up, lists it as pending, delivers success to it, and the balance and SMS follow', async () => {
    const number = localDigits(uniquePhone());
    // With the key: the test must not depend on an earlier test having given it to the tab.
    await page.goto(`${base}/simulator?key=${encodeURIComponent(ADMIN_KEY)}`);
    await page.getByLabel('Phone number').fill(number);
    await page.getByLabel('Phone number').dispatchEvent('change');
    await page.getByLabel('Outcome').selectOption('hold');
    await page.getByRole('button', { name: 'Set outcome' }).click();
    await page
      .locator('#mpesa-status', { hasText: `Next M-PESA request of ${number}: hold` })
      .waitFor({ timeout: 30_000 });

    await dialFrom(number);
    expect(await reply('4', 'BALANCE')).toContain('Wallet: Ksh 0');
    await reply('00', 'M-PESA LOANS');
    await reply('7', 'Top up');
    await reply('1', 'TOP UP');
    await reply('250', 'M-PESA will ask');

    // The push waits in the Daraja simulator; the page lists it (it looks when the session ends).
    const pending = page.locator('#pending li', { hasText: 'Ksh 250 top-up, held' });
    await pending.waitFor({ timeout: 30_000 });
    expect(await page.locator('#pending li').count()).toBe(1);
    expect(await pending.innerText()).toMatch(/ws_CO_\d+/);
    expect(await page.locator('#sms li', { hasText: 'Ksh 250' }).count()).toBe(0);
    await page.screenshot({ path: `${ARTIFACTS}simulator-topup-pending.png`, fullPage: true });

    await page.getByLabel('Result to deliver').selectOption('success');
    await pending.getByRole('button', { name: /^Deliver/ }).click();
    await page
      .locator('#pending-status', { hasText: 'Delivered success to the Ksh 250 top-up' })
      .waitFor({ timeout: 30_000 });
    await page.locator('#pending-empty', { hasText: 'No pending top-ups.' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#pending li').count()).toBe(0);

    // Deni's callback route credited the wallet and queued the SMS.
    const sms = page.locator('#sms li', { hasText: 'Ksh 250 received' });
    await sms.waitFor({ timeout: 20_000 });
    expect(await sms.innerText()).toContain('Deni: Ksh 250 received. New balance: Ksh 250');
    await dialFrom(number);
    expect(await reply('4', 'BALANCE')).toContain('Wallet: Ksh 250');
    await page.screenshot({ path: `${ARTIFACTS}simulator-topup-delivered.png`, fullPage: true });
  }, 60_000);

  it('without the key, says the panels need it; typed into the Admin key field, it opens them', async () => {
    const number = localDigits(uniquePhone());
    // A new tab of its own: nothing in its sessionStorage.
    const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    try {
      const fresh = await context.newPage();
      await fresh.goto(`${base}/simulator`);
      // It looks at the SMS at once, and says what the 401 means where the key goes.
      await fresh.locator('#key-status', { hasText: 'need the admin key (401)' }).waitFor({ timeout: 30_000 });
      await fresh.getByLabel('Phone number').fill(number);
      await fresh.getByLabel('Phone number').dispatchEvent('change');
      const smsError = fresh.locator('#sms-empty', {
        hasText: 'Could not load the SMS: it needs the admin key (401): enter it under Admin key',
      });
      await smsError.waitFor({ timeout: 30_000 });
      await fresh
        .locator('#pending-empty', { hasText: 'Could not load the pending top-ups: it needs the admin key (401)' })
        .waitFor({ timeout: 30_000 });
      await fresh.getByRole('button', { name: 'Set outcome' }).click();
      await fresh
        .locator('#mpesa-status', { hasText: 'Could not set the outcome: it needs the admin key (401)' })
        .waitFor({ timeout: 30_000 });
      expect(await fresh.locator('#key-status').innerText()).toContain(
        "The SMS and M-PESA panels need the admin key (401): enter the service's ADMIN_API_KEY",
      );
      expect(await fresh.locator('#key-status').getAttribute('class')).toBe('error');
      // The phone itself (the USSD webhook) needs no key.
      await fresh.getByRole('button', { name: /^Dial/ }).click();
      await fresh.locator('#screen', { hasText: 'M-PESA LOANS' }).waitFor({ timeout: 30_000 });
      await fresh.screenshot({ path: `${ARTIFACTS}simulator-admin-key-needed.png`, fullPage: true });

      await fresh.getByLabel('Admin key').fill('not-the-admin-key-0123');
      await fresh.getByRole('button', { name: 'Use key' }).click();
      await fresh
        .locator('#key-status', { hasText: 'The service refused this key (401)' })
        .waitFor({ timeout: 30_000 });
      expect(await fresh.getByLabel('Admin key').getAttribute('aria-invalid')).toBe('true');

      await fresh.getByLabel('Admin key').fill(ADMIN_KEY);
      await fresh.getByRole('button', { name: 'Use key' }).click();
      await fresh.locator('#key-status', { hasText: 'Key accepted' }).waitFor({ timeout: 30_000 });
      await fresh.locator('#sms-empty', { hasText: 'No SMS yet.' }).waitFor({ timeout: 30_000 });
      await fresh.locator('#pending-empty', { hasText: 'No pending top-ups.' }).waitFor({ timeout: 30_000 });
      await fresh.getByRole('button', { name: 'Set outcome' }).click();
      await fresh
        .locator('#mpesa-status', { hasText: `Next M-PESA request of ${number}: success` })
        .waitFor({ timeout: 30_000 });
      expect(await storedKey(fresh)).toBe(ADMIN_KEY);

      await fresh.getByRole('button', { name: 'Forget' }).click();
      expect(await storedKey(fresh)).toBeNull();
      expect(await fresh.getByLabel('Admin key').inputValue()).toBe('');
    } finally {
      await context.close();
    }
  }, 60_000);

  it('serves its files and settings openly, refuses its control routes without the key, and bad input with it', async () => {
    const key = { 'x-api-key': ADMIN_KEY };
    const json = { 'content-type': 'application/json' };
    const config = await fetch(`${base}/simulator/api/config`);
    expect(config.status).toBe(200);
    expect(await config.json()).toMatchObject({ serviceCode: '*383#', mpesaSimulated: true, adminKeyRequired: true });
    for (const [method, path, body] of [
      ['GET', '/simulator/api/sms?phoneNumber=0712345678', undefined],
      ['GET', '/simulator/api/mpesa/pending?phoneNumber=0712345678', undefined],
      ['POST', '/simulator/api/mpesa/outcome', { phoneNumber: '0712345678', outcome: 'cancelled' }],
      ['POST', '/simulator/api/mpesa/pending/ws_CO_01012024000000123456789123', { outcome: 'success' }],
    ] as const) {
      const refused: Record<string, string>[] = [{}, { 'x-api-key': 'wrong-key-0123456789' }];
      for (const headers of refused) {
        const res = await fetch(`${base}${path}`, {
          method,
          headers: { ...json, ...headers },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        expect([path, res.status, ((await res.json()) as { code: string }).code]).toEqual([
          path,
          401,
          'AUTH.ADMIN_KEY_REQUIRED',
        ]);
      }
    }

    const bad = await fetch(`${base}/simulator/api/mpesa/outcome`, {
      method: 'POST',
      headers: { ...json, ...key },
      body: JSON.stringify({ phoneNumber: '0712345678', outcome: 'free_money' }),
    });
    expect(bad.status).toBe(400);
    expect((await fetch(`${base}/simulator/api/sms?phoneNumber=12`, { headers: key })).status).toBe(422);
    expect((await fetch(`${base}/simulator/api/mpesa/pending?phoneNumber=12`, { headers: key })).status).toBe(422);
    const deliver = (id: string, outcome: string) =>
      fetch(`${base}/simulator/api/mpesa/pending/${id}`, {
        method: 'POST',
        headers: { ...json, ...key },
        body: JSON.stringify({ outcome }),
      });
    // `hold` holds; it is not an answer.
    expect((await deliver('ws_CO_01012024000000123456789123', 'hold')).status).toBe(400);
    const unknown = await deliver('ws_CO_01012024000000123456789123', 'success');
    expect([unknown.status, ((await unknown.json()) as { code: string }).code]).toEqual([
      404,
      'SIMULATOR.NO_PENDING_TOPUP',
    ]);
    for (const path of ['/simulator', '/simulator/', '/simulator/simulator.js', '/simulator/simulator.css']) {
      const res = await fetch(`${base}${path}`);
      expect([path, res.status]).toEqual([path, 200]);
    }
    expect((await fetch(`${base}/simulator`)).headers.get('content-type')).toMatch(/^text\/html/);
  });
});

describe('SIMULATOR_ENABLED', () => {
  it('is on outside production, off in production unless asked for', () => {
    expect(testConfig().simulator.enabled).toBe(true);
    expect(testConfig(productionEnv()).simulator.enabled).toBe(false);
    expect(testConfig({ ...productionEnv(), SIMULATOR_ENABLED: 'true' }).simulator.enabled).toBe(true);
  });

  it('when off, neither the page nor its routes exist', async () => {
    const { app } = await startTestApp({ SIMULATOR_ENABLED: 'false' });
    try {
      for (const url of [
        '/simulator',
        '/simulator/simulator.js',
        '/simulator/api/config',
        '/simulator/api/sms?phoneNumber=0712345678',
        '/simulator/api/mpesa/pending?phoneNumber=0712345678',
      ]) {
        expect([url, (await app.inject({ method: 'GET', url })).statusCode]).toEqual([url, 404]);
      }
      const res = await app.inject({
        method: 'POST',
        url: '/simulator/api/mpesa/outcome',
        payload: { phoneNumber: '0712345678', outcome: 'cancelled' },
      });
      expect(res.statusCode).toBe(404);
    } finally {
      await app.close();
    }
  });
});
