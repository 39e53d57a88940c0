/**
 * The "peer" for `npm run bench`: what a Node developer would likely write instead of Deni for the
 * same USSD channel. Express and ussd-menu-builder 1.2.0 (states linked by the inputs of Africa's
 * Talking's accumulated `text`), with the library's session hooks (start, get, set, end) kept in
 * Redis, one hash per session. It serves Deni's screens for the loan request up to its
 * confirmation, byte for byte (test/bench-peer.test.ts compares them), and no database.
 *
 * One UssdMenu per request: the library keeps the request's arguments and its reply callback on
 * the menu object, so a menu shared between concurrent requests would answer one caller with
 * another's screen once a session hook waits for Redis.
 */
import { timingSafeEqual } from 'node:crypto';
import express, { type Express, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import UssdMenu from 'ussd-menu-builder';

/** Deni's session lifetime: three minutes, refreshed on every request. */
const SESSION_TTL_MS = 180_000;
const MIN_AMOUNT = 100;
const MAX_AMOUNT = 250_000;
const MIN_REPAYMENT = 10;

const NAV = '\n0. Back 00. Home';
export const PEER_SCREENS = {
  main: 'M-PESA LOANS\n1. Request Loan\n2. View My Loans\n3. Approve Loan\n4. View Balance\n5. Transactions\n6. Repay Loan\n7. My Account\n0. Exit',
  bye: 'Thank you for using M-PESA Loans.',
  lenderPhone: `REQUEST LOAN\nEnter lender phone:${NAV}`,
  amount: `Enter loan amount (Ksh):${NAV}`,
  repayment: `Enter repayment per deposit (Ksh):${NAV}`,
  confirm: (lender: string, amount: string, repayment: string) =>
    `CONFIRM LOAN\nLender: ${lender}\nAmount: Ksh ${amount}\nRepayment: Ksh ${repayment}\n1. Confirm 0. Cancel`,
  notYet: 'This menu is not part of the comparison.',
} as const;

const KENYAN_MOBILE = /^(?:\+?254|0)([17]\d{8})$/;

/** `0712345678`, `+254712345678` or `254712345678` → `254712345678`; null for anything else. */
function msisdn(input: string): string | null {
  const m = KENYAN_MOBILE.exec(input.replace(/[\s-]/g, ''));
  return m ? `254${m[1]}` : null;
}

/** `254712345678` → `0712 345 678`, as Deni's screens show numbers. */
function local(number: string): string {
  const d = `0${number.slice(3)}`;
  return `${d.slice(0, 4)} ${d.slice(4, 7)} ${d.slice(7)}`;
}

const wholeShillings = (input: string) => (/^\d{1,9}$/.test(input) ? Number(input) : null);

/** The library's session hooks as its run functions see them (its typings leave them untyped). */
interface Session {
  get(field: string): Promise<string | null>;
  set(field: string, value: string): Promise<unknown>;
}

function buildMenu(redis: Redis): UssdMenu {
  const menu = new UssdMenu({ provider: 'africasTalking' });
  const key = (sessionId: string) => `session:${sessionId}`;
  menu.sessionConfig({
    start: (sessionId: string) => redis.pexpire(key(sessionId), SESSION_TTL_MS),
    get: (sessionId: string, field: string) => redis.hget(key(sessionId), field),
    set: (sessionId: string, field: string, value: string) =>
      redis.pipeline().hset(key(sessionId), field, value).pexpire(key(sessionId), SESSION_TTL_MS).exec(),
    end: (sessionId: string) => redis.del(key(sessionId)),
  });
  const session = menu.session as Session;
  const caller = () => msisdn(menu.args.phoneNumber);
  /** Shows a screen once `saved` is done (a failure reaches the caller through the menu's 'error' event). */
  const conAfter = (saved: Promise<unknown>, screen: () => string) =>
    void saved.then(() => menu.con(screen())).catch(() => undefined);

  menu.startState({
    run: () => menu.con(PEER_SCREENS.main),
    next: {
      '0': 'exit',
      '1': 'request.phone',
      '2': 'later',
      '3': 'later',
      '4': 'later',
      '5': 'later',
      '6': 'later',
      '7': 'later',
    },
  });
  menu.state('exit', { run: () => menu.end(PEER_SCREENS.bye) });
  menu.state('later', { run: () => menu.end(PEER_SCREENS.notYet) });

  // An answer no link takes leads nowhere (defaultNext: the same state): the screen is asked again.
  menu.state('request.phone', {
    run: () => menu.con(PEER_SCREENS.lenderPhone),
    next: {
      '0': UssdMenu.START_STATE,
      '00': UssdMenu.START_STATE,
      '*^[+\\d][\\d -]{8,15}$': () => {
        const lender = msisdn(menu.val);
        return lender && lender !== caller() ? 'request.amount' : 'request.phone';
      },
    },
  });
  const amountLinks = {
    '0': 'request.phone',
    '00': UssdMenu.START_STATE,
    '*^\\d+$': () => {
      const amount = wholeShillings(menu.val);
      return amount !== null && amount >= MIN_AMOUNT && amount <= MAX_AMOUNT
        ? 'request.repayment'
        : 'request.amount.again';
    },
  };
  menu.state('request.amount', {
    run: () => {
      // Reached with the lender's number, or with 0 (back) from the next screen.
      const lender = msisdn(menu.val);
      conAfter(lender ? session.set('lender', lender) : Promise.resolve(), () => PEER_SCREENS.amount);
    },
    next: amountLinks,
  });
  menu.state('request.amount.again', {
    run: () => menu.con(PEER_SCREENS.amount),
    next: amountLinks,
  });
  const repaymentLinks = {
    '0': 'request.amount',
    '00': UssdMenu.START_STATE,
    '*^\\d+$': async () => {
      const repayment = wholeShillings(menu.val);
      const amount = Number(await session.get('amount'));
      return repayment !== null && repayment >= MIN_REPAYMENT && repayment <= amount
        ? 'request.confirm'
        : 'request.repayment.again';
    },
  };
  menu.state('request.repayment', {
    run: () => conAfter(session.set('amount', menu.val), () => PEER_SCREENS.repayment),
    next: repaymentLinks,
  });
  menu.state('request.repayment.again', {
    run: () => menu.con(PEER_SCREENS.repayment),
    next: repaymentLinks,
  });
  menu.state('request.confirm', {
    run: () => {
      const repayment = menu.val;
      let lender: string | null = null;
      let amount: string | null = null;
      conAfter(
        Promise.all([
          session.get('lender').then((v) => (lender = v)),
          session.get('amount').then((v) => (amount = v)),
          session.set('repayment', repayment),
        ]),
        () => PEER_SCREENS.confirm(local(lender ?? ''), amount ?? '', repayment),
      );
    },
    // What follows a confirmation (the PIN, the request written) is Deni's database work, not compared.
    next: { '0': UssdMenu.START_STATE, '00': UssdMenu.START_STATE, '1': 'later' },
  });
  return menu;
}

function sameSecret(presented: unknown, expected: string): boolean {
  if (typeof presented !== 'string' || presented.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(presented), Buffer.from(expected));
}

/**
 * The peer's Express application. `redis` should carry a key prefix of its own; `secret`, when
 * given, is required in the `x-ussd-secret` header as Deni requires USSD_WEBHOOK_SECRET.
 */
export function createPeerApp(options: { redis: Redis; secret?: string }): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.urlencoded({ extended: false, limit: '8kb' }));
  app.post('/api/ussd/handler', async (req: Request, res: Response) => {
    if (options.secret && !sameSecret(req.get('x-ussd-secret'), options.secret)) {
      res.status(401).type('text/plain').send('END Not allowed');
      return;
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const { sessionId, phoneNumber, serviceCode, text } = body;
    if (typeof sessionId !== 'string' || typeof phoneNumber !== 'string' || !msisdn(phoneNumber)) {
      res.status(400).type('text/plain').send('END Sorry, we could not read that request. Please dial again.');
      return;
    }
    const menu = buildMenu(options.redis);
    const failed = new Promise<never>((_, reject) => menu.once('error', reject));
    try {
      const reply = await Promise.race([
        menu.run({
          sessionId,
          phoneNumber,
          serviceCode: typeof serviceCode === 'string' ? serviceCode : '',
          text: typeof text === 'string' ? text : '',
        }),
        failed,
      ]);
      res.type('text/plain').send(reply);
    } catch {
      res.status(500).type('text/plain').send('END Sorry, that did not work. Please try again later.');
    }
  });
  return app;
}
