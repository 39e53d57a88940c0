import { uniquePhone } from './test-app.js';
import { UsersService } from '../../src/users/users.service.js';
import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { isGsm7 } from '../../src/ussd/engine/screen-text.js';
import { AtPhone } from './ussd-phone.js';

/** The most a screen may hold (USSD_MAX_CHARS default); every reply a test receives is checked. */
export const MAX_SCREEN_CHARS = 160;

/** Fails unless `message` fits one USSD screen in GSM-7. Returns it, for chaining. */
export function checkScreen(message: string): string {
  if (message.length > MAX_SCREEN_CHARS) {
    throw new Error(`screen is ${message.length} characters (max ${MAX_SCREEN_CHARS}): ${JSON.stringify(message)}`);
  }
  if (!isGsm7(message)) throw new Error(`screen is not GSM-7: ${JSON.stringify(message)}`);
  return message;
}

/** Checks an Africa's Talking reply body: `CON …` or `END …`, the screen within limits. */
export function checkAtBody(body: string): string {
  if (!/^(CON|END) /.test(body)) throw new Error(`not an Africa's Talking reply: ${JSON.stringify(body)}`);
  checkScreen(body.slice(4));
  return body;
}

// ---------------------------------------------------------------- screen texts (src/ussd/i18n/en.ts, sw.ts)

/** The navigation footer the engine adds to every screen that offers back/home. */
export const NAV = '\n0. Back 00. Home';
export const NAV_SW = '\n0. Rudi 00. Mwanzo';

export const MAIN_MENU =
  'M-PESA LOANS\n1. Request Loan\n2. View My Loans\n3. Approve Loan\n4. View Balance\n5. Transactions\n6. Repay Loan\n7. My Account\n0. Exit';
export const MAIN_MENU_SW =
  'MIKOPO YA M-PESA\n1. Omba Mkopo\n2. Mikopo Yangu\n3. Kubali Mkopo\n4. Salio\n5. Miamala\n6. Lipa Mkopo\n7. Akaunti Yangu\n0. Toka';

export const SCREENS = {
  main: MAIN_MENU,
  lenderPhone: `REQUEST LOAN\nEnter lender phone:${NAV}`,
  amount: `Enter loan amount (Ksh):${NAV}`,
  repayment: `Enter repayment per deposit (Ksh):${NAV}`,
  /** The lender in any form: the screen shows it as local() does. */
  confirm: (lender: string, amount: number, repayment: number) =>
    `CONFIRM LOAN\nLender: ${local(lender)}\nAmount: Ksh ${amount}\nRepayment: Ksh ${repayment}\n1. Confirm 0. Cancel`,
  pinCreate: `Create a 4-digit PIN:${NAV}`,
  pinConfirm: `Confirm PIN:${NAV}`,
  pinEnter: `Enter your 4-digit PIN:${NAV}`,
  sent: (lender: string) => `SUCCESS\nLoan request sent to ${local(lender)}${NAV}`,
  /** The resume offer, saying what would be continued: `what` is e.g. "your withdrawal of Ksh 500". */
  resume: (what: string) => `Continue ${what}?\n1. Continue\n2. Start again`,
  account: `MY ACCOUNT\n1. Top up\n2. Withdraw\n3. Change PIN\n4. Language${NAV}`,
  topUp: `TOP UP\nEnter amount (Ksh):${NAV}`,
  withdraw: (balance: number) => `WITHDRAW\nWallet: Ksh ${balance}\nEnter amount (Ksh):${NAV}`,
  language: `LANGUAGE\n1. English\n2. Kiswahili${NAV}`,
  pinOld: `Enter your current PIN:${NAV}`,
  pinNew: `Enter a new 4-digit PIN:${NAV}`,
  bye: 'Thank you for using M-PESA Loans.',
  generic: 'Sorry, that did not work. Please try again later.',
  rateLimited: 'Too many requests. Please wait a minute and dial again.',
  unreadable: 'Sorry, we could not read that request. Please dial again.',
} as const;

/** The refusals and END screens in Kiswahili, for a subscriber who chose it. */
export const SCREENS_SW = {
  bye: 'Asante kwa kutumia Mikopo ya M-PESA.',
  pinLocked: 'PIN zisizo sahihi zimezidi. PIN yako imefungwa kwa dakika 30.',
  generic: 'Samahani, imeshindikana. Tafadhali jaribu tena baadaye.',
  rateLimited: 'Maombi mengi mno. Subiri dakika moja kisha upige tena.',
  unreadable: 'Samahani, hatukuweza kusoma ombi hilo. Tafadhali piga tena.',
  busy: 'Huduma ina shughuli nyingi. Tafadhali jaribu tena baada ya dakika chache.',
} as const;

/**
 * Where the subscriber's language cannot be known (the number not identified yet, Redis
 * unreachable): the English line, then the Kiswahili one, on one screen.
 */
export const BOTH_LANGUAGES = {
  badNumber: 'Sorry, this service is for Kenyan mobile numbers.\nSamahani, huduma hii ni ya nambari za simu za Kenya.',
  generic: `${SCREENS.generic}\n${SCREENS_SW.generic}`,
  rateLimited: `${SCREENS.rateLimited}\n${SCREENS_SW.rateLimited}`,
  unreadable: `${SCREENS.unreadable}\n${SCREENS_SW.unreadable}`,
  unavailable:
    'Service temporarily unavailable. Please try again in a few minutes.\nHuduma haipatikani kwa muda. Tafadhali jaribu tena baada ya dakika chache.',
  busy: `The service is busy. Please try again in a few minutes.\n${SCREENS_SW.busy}`,
} as const;

/**
 * 254712345678 → `0712 345 678`: how every screen and SMS shows a number (four, three, three
 * digits, as Kenyans read it). Spelled out here rather than taken from the code under test.
 */
export function local(msisdn: string): string {
  const digits = `0${msisdn.slice(-9)}`;
  return `${digits.slice(0, 4)} ${digits.slice(4, 7)} ${digits.slice(7)}`;
}

/** dd/mm in Nairobi time, as the transactions screen prints dates. */
export function nairobiDayMonth(date = new Date()): string {
  const d = new Date(date.getTime() + 3 * 3_600_000);
  return `${String(d.getUTCDate()).padStart(2, '0')}/${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

// ---------------------------------------------------------------- clients

/** An AtPhone whose every reply is checked (shape, length, GSM-7). */
export class CheckedAtPhone extends AtPhone {
  override async send(text?: string): Promise<string> {
    return checkAtBody(await super.send(text));
  }
}

export interface AtFields {
  sessionId: string;
  phoneNumber: string;
  text: string;
  serviceCode?: string;
}

/** One raw Africa's Talking request; the reply body is checked when the status is 200. */
export async function atPost(
  app: NestFastifyApplication,
  fields: AtFields,
  options: { url?: string; headers?: Record<string, string>; remoteAddress?: string } = {},
) {
  const res = await app.inject({
    method: 'POST',
    url: options.url ?? '/api/ussd/handler',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(options.headers ?? {}) },
    ...(options.remoteAddress ? { remoteAddress: options.remoteAddress } : {}),
    payload: new URLSearchParams({
      sessionId: fields.sessionId,
      serviceCode: fields.serviceCode ?? '*383#',
      phoneNumber: `+${fields.phoneNumber}`,
      networkCode: '63902',
      text: fields.text,
    }).toString(),
  });
  if (res.statusCode === 200) {
    if (!String(res.headers['content-type']).startsWith('text/plain'))
      throw new Error(`AT reply content type ${String(res.headers['content-type'])}`);
    checkAtBody(res.body);
  }
  return { status: res.statusCode, body: res.body };
}

/**
 * An Africa's Talking session that is not tied to one app instance: each step names the
 * instance it goes to (two API instances behind one gateway).
 */
export class AtSession {
  readonly sessionId = `ATUid_${randomUUID()}`;
  text = '';

  constructor(readonly phoneNumber: string) {}

  async dial(app: NestFastifyApplication, shortcut = ''): Promise<string> {
    this.text = shortcut;
    return this.send(app);
  }

  async reply(app: NestFastifyApplication, input: string): Promise<string> {
    this.text = this.text === '' ? input : `${this.text}*${input}`;
    return this.send(app);
  }

  async send(app: NestFastifyApplication): Promise<string> {
    const res = await atPost(app, { sessionId: this.sessionId, phoneNumber: this.phoneNumber, text: this.text });
    if (res.status !== 200) throw new Error(`USSD ${res.status}: ${res.body}`);
    return res.body;
  }
}

export interface GenericReply {
  responseType: 'input' | 'notification';
  message: string;
}

/** A subscriber talking through the seed's generic JSON dialect (text = the latest input). */
export class GenericPhone {
  readonly sessionId = `gen-${randomUUID()}`;

  constructor(
    private readonly app: NestFastifyApplication,
    readonly phoneNumber: string,
    private readonly url = '/api/ussd/handler',
  ) {}

  async send(text: string, requestId?: string): Promise<GenericReply> {
    const res = await this.app.inject({
      method: 'POST',
      url: this.url,
      headers: { 'content-type': 'application/json' },
      payload: {
        sessionId: this.sessionId,
        phoneNumber: this.phoneNumber,
        text,
        serviceCode: '*383#',
        ...(requestId ? { requestId } : {}),
      },
    });
    if (res.statusCode !== 200) throw new Error(`USSD ${res.statusCode}: ${res.body}`);
    if (!String(res.headers['content-type']).startsWith('application/json'))
      throw new Error(`content type ${String(res.headers['content-type'])}`);
    const body = res.json<GenericReply>();
    if (Object.keys(body).sort().join() !== 'message,responseType')
      throw new Error(`unexpected reply shape ${res.body}`);
    if (body.responseType !== 'input' && body.responseType !== 'notification')
      throw new Error(`responseType ${String(body.responseType)}`);
    checkScreen(body.message);
    return body;
  }
}

export const input = (message: string): GenericReply => ({ responseType: 'input', message });
export const notification = (message: string): GenericReply => ({ responseType: 'notification', message });

// ---------------------------------------------------------------- database

export interface LoanRow {
  id: string;
  status: string;
  principal: number;
  repayment: number;
  outstanding: number;
  lender: string;
  borrower: string;
}

/** Every loan where `phone` is the borrower, newest first, with amounts as numbers. */
export async function loansOf(app: NestFastifyApplication, phone: string): Promise<LoanRow[]> {
  const rows: Record<string, string>[] = await app.get(DataSource).query(
    `SELECT l.id, l.status, l.principal, l.repayment_per_deposit AS repayment, l.outstanding,
            lu.phone_number AS lender, bu.phone_number AS borrower
       FROM loans l JOIN users bu ON bu.id = l.borrower_id JOIN users lu ON lu.id = l.lender_id
      WHERE bu.phone_number = $1 ORDER BY l.created_at DESC`,
    [phone],
  );
  return rows.map((r) => ({
    id: r.id,
    status: r.status,
    principal: Number(r.principal),
    repayment: Number(r.repayment),
    outstanding: Number(r.outstanding),
    lender: r.lender,
    borrower: r.borrower,
  }));
}

/** A subscriber with a PIN already set (as if created in an earlier session); returns the number. */
export async function subscriberWithPin(app: NestFastifyApplication, pin = '4821'): Promise<string> {
  const phone = uniquePhone();
  const users = app.get(UsersService);
  await users.createPin((await users.findOrRegister(phone)).id, pin);
  return phone;
}
