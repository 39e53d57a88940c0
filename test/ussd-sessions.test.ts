import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { REDIS } from '../src/redis/redis.tokens.js';
import type { RedisClient } from '../src/redis/redis-connection.factory.js';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { LoansService } from '../src/loans/loans.service.js';
import type { Language } from '../src/common/language.js';
import { localDigits } from '../src/common/phone-number.js';
import { UsersService } from '../src/users/users.service.js';
import { UssdSnapshotStore } from '../src/ussd/offline/snapshot.store.js';
import { UssdSessionStore } from '../src/ussd/ussd-session.store.js';
import { ADMIN_KEY, ApiClient } from './support/api-client.js';
import { countRedisRoundTrips } from './support/redis-round-trips.js';
import { ownRedisPrefix, startTestApp, uniquePhone } from './support/test-app.js';
import {
  atPost,
  checkScreen,
  CheckedAtPhone,
  GenericPhone,
  MAIN_MENU,
  MAIN_MENU_SW,
  SCREENS,
  input,
  loansOf,
  subscriberWithPin,
  local,
} from './support/ussd-clients.js';

/**
 * What makes a USSD session dependable: gateway retries answered from the stored reply, one
 * request of a session at a time, resuming a lost session, shortcut dials, sessions bound to
 * their phone, and the PIN lockout.
 */
describe('USSD sessions', () => {
  let app: NestFastifyApplication;
  let redis: RedisClient;

  beforeAll(async () => {
    ({ app } = await startTestApp({ ADMIN_API_KEY: ADMIN_KEY, APP_ROLE: 'api', REDIS_KEY_PREFIX: ownRedisPrefix() }));
    redis = app.get<RedisClient>(REDIS);
  });
  afterAll(() => app.close());

  const con = (screen: string) => `CON ${screen}`;
  const end = (screen: string) => `END ${screen}`;

  const userWithPin = (pin = '4821') => subscriberWithPin(app, pin);

  describe('gateway retries', () => {
    it("answers every repeated Africa's Talking request with the same text and creates one loan", async () => {
      const borrower = uniquePhone();
      const lender = uniquePhone();
      const phone = new CheckedAtPhone(app, borrower);
      const steps: [() => Promise<string>, string][] = [
        [() => phone.dial(), con(MAIN_MENU)],
        [() => phone.reply('1'), con(SCREENS.lenderPhone)],
        [() => phone.reply(lender), con(SCREENS.amount)],
        [() => phone.reply('5000'), con(SCREENS.repayment)],
        [() => phone.reply('500'), con(SCREENS.confirm(lender, 5000, 500))],
        [() => phone.reply('1'), con(SCREENS.pinCreate)],
        [() => phone.reply('4821'), con(SCREENS.pinConfirm)],
        [() => phone.reply('4821'), con(SCREENS.sent(lender))],
      ];
      for (const [step, expected] of steps) {
        expect(await step()).toBe(expected);
        expect(await phone.retry()).toBe(expected);
      }
      expect(await loansOf(app, borrower)).toEqual([
        expect.objectContaining({ status: 'PENDING', principal: 5000, repayment: 500 }),
      ]);
      // The next real answer still moves on from where the retries left the session.
      expect(await phone.reply('0')).toBe(con(MAIN_MENU));
      expect(await phone.retry()).toBe(con(MAIN_MENU));
      expect(await loansOf(app, borrower)).toHaveLength(1);
    });

    it('answers a retry of the request that ended the session with the same END, and does nothing again', async () => {
      const lender = await userWithPin('4821');
      const loans = app.get(LoansService);
      for (const amount of [1000, 2000]) {
        const borrower = await app.get(UsersService).findOrRegister(uniquePhone());
        await loans.requestLoan({
          borrowerId: borrower.id,
          lenderPhoneNumber: lender,
          amount,
          repaymentPerDeposit: 100,
        });
      }
      const phone = new CheckedAtPhone(app, lender);
      await phone.dial();
      await phone.reply('3');
      await phone.reply('1');
      await phone.reply('2'); // decline
      const ended = await phone.reply('4821');
      expect(ended).toMatch(/^END .*declined/);
      // The gateway delivers the same request again: it must not decline the other request.
      expect(await phone.retry()).toBe(ended);
      expect(await phone.retry()).toBe(ended);
      const lenderId = (await app.get(UsersService).findByPhone(lender))!.id;
      const statuses = await app
        .get(DataSource)
        .query<{ status: string }[]>(`SELECT status FROM loans WHERE lender_id = $1 ORDER BY status`, [lenderId]);
      expect(statuses.map((r) => r.status)).toEqual(['DECLINED', 'PENDING']);
    });

    it('keeps the writes of two sessions apart where a gateway reuses the session id', async () => {
      const borrower = await userWithPin('4821');
      const lender = uniquePhone();
      const sessionId = `reused-${borrower}`;
      const send = async (text: string) => {
        const res = await app.inject({
          method: 'POST',
          url: '/api/ussd/handler',
          headers: { 'content-type': 'application/json' },
          payload: { sessionId, phoneNumber: borrower, serviceCode: '*383#', text },
        });
        return res.json<{ message: string }>().message;
      };
      const requestOnce = async () => {
        for (const text of ['', '1', lender, '5000', '500', '1']) await send(text);
        return send('4821');
      };
      expect(await requestOnce()).toContain('SUCCESS');
      const [first] = await loansOf(app, borrower);
      await app.get(LoansService).decline(first.id, (await app.get(UsersService).findByPhone(lender))!.id);
      await send('0'); // back to the menu …
      await send('0'); // … and exit: the session ends
      // The same session id dials again (as Nalo's does) and asks for the same loan: a new one.
      expect(await requestOnce()).toContain('SUCCESS');
      const all = await loansOf(app, borrower);
      expect(all.map((l) => l.status).sort()).toEqual(['DECLINED', 'PENDING']);
    });

    it('answers a repeated generic requestId with the stored reply and creates one loan', async () => {
      const borrower = uniquePhone();
      const lender = uniquePhone();
      const phone = new GenericPhone(app, borrower);
      const steps: [string, string][] = [
        ['', MAIN_MENU],
        ['1', SCREENS.lenderPhone],
        [lender, SCREENS.amount],
        ['5000', SCREENS.repayment],
        ['500', SCREENS.confirm(lender, 5000, 500)],
        ['1', SCREENS.pinCreate],
        ['4821', SCREENS.pinConfirm],
        ['4821', SCREENS.sent(lender)],
      ];
      for (const [i, [text, screen]] of steps.entries()) {
        expect(await phone.send(text, `req-${i}`)).toEqual(input(screen));
        expect(await phone.send(text, `req-${i}`)).toEqual(input(screen));
      }
      expect(await loansOf(app, borrower)).toEqual([expect.objectContaining({ status: 'PENDING', principal: 5000 })]);
      // A new requestId is a new answer.
      expect(await phone.send('0', 'req-8')).toEqual(input(MAIN_MENU));
      expect(await loansOf(app, borrower)).toHaveLength(1);
    });

    it('serialises two concurrent identical confirming requests: one loan, identical answers', async () => {
      const borrower = uniquePhone();
      const lender = uniquePhone();
      const phone = new CheckedAtPhone(app, borrower);
      await phone.dial();
      for (const typed of ['1', lender, '2500', '250', '1', '4821']) await phone.reply(typed);
      const [a, b] = await Promise.all([phone.reply('4821'), phone.retry()]);
      expect(a).toBe(con(SCREENS.sent(lender)));
      expect(b).toBe(a);
      expect(await loansOf(app, borrower)).toEqual([expect.objectContaining({ principal: 2500, repayment: 250 })]);

      // The same with a PIN already set and the generic dialect's requestId.
      const other = await userWithPin('4821');
      const g = new GenericPhone(app, other);
      for (const [i, typed] of ['', '1', lender, '3000', '300', '1'].entries()) await g.send(typed, `c-${i}`);
      const replies = await Promise.all([
        g.send('4821', 'c-final'),
        g.send('4821', 'c-final'),
        g.send('4821', 'c-final'),
      ]);
      expect(replies).toEqual([input(SCREENS.sent(lender)), input(SCREENS.sent(lender)), input(SCREENS.sent(lender))]);
      expect(await loansOf(app, other)).toEqual([expect.objectContaining({ principal: 3000, repayment: 300 })]);
    });
  });

  describe('what a step costs', () => {
    it('a continuing step of a journey sends Redis two scripts, and nothing else', async () => {
      const phone = new CheckedAtPhone(app, uniquePhone());
      expect(await phone.dial()).toBe(con(MAIN_MENU));
      // The dial took an offline snapshot in the background: let it finish first.
      await app.get(UssdSnapshotStore).settle();
      // Count what Deni's own client sends (BullMQ has clients of its own), step by step.
      const client = redis as RedisClient & { sendCommand: (command: { name: string }, ...rest: unknown[]) => unknown };
      const send = client.sendCommand.bind(client);
      let sent: string[] = [];
      client.sendCommand = (command: { name: string }, ...rest: unknown[]) => {
        // The active-sessions gauge reads the index now and then: not part of a step.
        if (command.name !== 'zcount') sent.push(command.name);
        return send(command, ...rest);
      };
      const perStep: string[][] = [];
      try {
        for (const answer of ['1', '0722000001', '1000', '100']) {
          sent = [];
          await phone.reply(answer);
          perStep.push(sent.sort());
        }
      } finally {
        client.sendCommand = send;
      }
      // The rate limit, the lock and the read in one script; the save, the resume offer and the
      // unlock in another (scripts by digest). The subscriber comes from the session (no identity
      // lookup) and the index was put at the dial.
      for (const commands of perStep) expect(commands).toEqual(['evalsha', 'evalsha']);
    });

    it('registers a new number on its first dial in five statements, and takes its first snapshot without the database', async () => {
      const phone = new CheckedAtPhone(app, uniquePhone());
      const snapshots = app.get(UssdSnapshotStore);
      // Every statement any pooled connection sends, from the dial until its background work is done.
      const sent: string[] = [];
      const client = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
      const query = client.query;
      client.query = function (this: pg.Client, ...args: unknown[]) {
        const q = args[0] as string | { text?: string };
        sent.push((typeof q === 'string' ? q : (q.text ?? '')).trim().split(/\s+/).slice(0, 3).join(' '));
        return query.apply(this, args);
      };
      try {
        expect(await phone.dial()).toBe(con(MAIN_MENU));
        await snapshots.settle();
      } finally {
        client.query = query;
      }
      // Who they are (nobody yet), then the user and their wallet in one transaction.
      expect(sent).toEqual([
        'SELECT id, phone_number,',
        'START TRANSACTION',
        'INSERT INTO users',
        'INSERT INTO accounts',
        'COMMIT',
      ]);
      // What they could see offline: nothing yet, as of the dial.
      const snapshot = await snapshots.get(phone.phoneNumber);
      expect(snapshot).toMatchObject({ seq: 0, balance: 0, owing: 0, owed: 0, loans: [], entries: [] });
      expect(snapshot?.user).toMatchObject({ phoneNumber: phone.phoneNumber, language: 'en', hasPin: false });
    });

    it('waits for Redis twice in sequence on a dial, a shortcut dial or a continuing step, first contact included', async () => {
      const phone = new CheckedAtPhone(app, uniquePhone());
      const snapshots = app.get(UssdSnapshotStore);
      // A new subscriber's first dial, and the scripts loaded (a first EVALSHA falls back to EVAL).
      const first = await countRedisRoundTrips(redis, () => phone.dial());
      await snapshots.settle();
      const costs: [string, number][] = [['first dial', first.sequential]];
      const step = async (name: string, work: () => Promise<string>) => {
        costs.push([name, (await countRedisRoundTrips(redis, work)).sequential]);
        await snapshots.settle();
      };
      await step('dial', () => phone.dial());
      await step('continuing step', () => phone.reply('1'));
      await step('continuing step with an answer typed', () => phone.reply('0722000001'));
      // The gateway drops the session mid-journey: the next dial takes the resume offer.
      await step('dial with a resume offer', () => phone.dial());
      await step('continuing step that resumes', () => phone.reply('1'));
      // Africa's Talking: a new session whose first request carries text, as a continuing step does.
      const shortcut = new CheckedAtPhone(app, uniquePhone());
      await step('first contact by a shortcut dial', () => shortcut.dial('1*0722000001'));
      await step('shortcut dial', () => shortcut.dial('1*0722000001'));
      // The gate: rate limit, lock-and-read, and on what may be a dial the resume offer and the
      // cached identity, together; then the save (with the offer) and unlock. A first dial
      // registers the subscriber in between (PostgreSQL) and fills the identity cache without
      // waiting for it. A continuing step knows its subscriber from the session.
      expect(costs).toEqual([
        ['first dial', 2],
        ['dial', 2],
        ['continuing step', 2],
        ['continuing step with an answer typed', 2],
        ['dial with a resume offer', 2],
        ['continuing step that resumes', 2],
        ['first contact by a shortcut dial', 2],
        ['shortcut dial', 2],
      ]);
    });
  });

  describe('resume after a lost session', () => {
    const requestTo = (lender: string) => SCREENS.resume(`your loan request to ${local(lender)}`);

    async function midRequest() {
      const borrower = uniquePhone();
      const lender = uniquePhone();
      const phone = new CheckedAtPhone(app, borrower);
      await phone.dial();
      await phone.reply('1');
      await phone.reply(lender);
      expect(await phone.reply('5000')).toBe(con(SCREENS.repayment));
      return { phone, lender, lost: phone.session };
    }

    it('offers 1. Continue after the session expired, and continues where it stopped', async () => {
      const { phone, lender, lost } = await midRequest();
      // The session expires (as after 180 s of silence: its key goes, and it drops out of the
      // index's time window); the gateway opens a new session.
      expect(await redis.del(`ussd:session:{${phone.phoneNumber}}:${lost}`)).toBe(1);
      expect(await redis.zrem('ussd:index', `${phone.phoneNumber}:${lost}`)).toBe(1);
      expect(await phone.dial()).toBe(con(requestTo(lender)));
      expect(phone.session).not.toBe(lost);
      expect(await phone.reply('1')).toBe(con(SCREENS.repayment));
      expect(await phone.reply('500')).toBe(con(SCREENS.confirm(lender, 5000, 500)));
      // Back still works in the restored journey.
      expect(await phone.reply('0')).toBe(con(MAIN_MENU));
    });

    it('offers it too when the gateway dropped the session but the key is still there', async () => {
      const { phone, lender } = await midRequest();
      expect(await phone.dial()).toBe(con(requestTo(lender)));
      expect(await phone.reply('3')).toBe(con(`Invalid choice.\n${requestTo(lender)}`));
      expect(await phone.reply('1')).toBe(con(SCREENS.repayment));
    });

    it('2. Start again shows the main menu, and the offer is not made twice', async () => {
      const { phone, lender } = await midRequest();
      expect(await phone.dial()).toBe(con(requestTo(lender)));
      expect(await phone.reply('2')).toBe(con(MAIN_MENU));
      expect(await phone.dial()).toBe(con(MAIN_MENU));
    });

    describe('only where something typed would be lost', () => {
      let deposits = 0;
      /** Money into a wallet, as an M-PESA deposit brings it (a debt is paid from it first). */
      async function deposit(phoneNumber: string, amount: number) {
        const user = await app.get(UsersService).findOrRegister(phoneNumber);
        await app
          .get(LoansService)
          .receiveDeposit({ userId: user.id, amount, reference: `resume-${phoneNumber}-${++deposits}` });
      }

      /** A borrower (PIN 4821) with an active loan of `amount` from a new lender and `wallet` Ksh of their own. */
      async function borrowing(amount: number, wallet: number, language: Language = 'en') {
        const users = app.get(UsersService);
        const loans = app.get(LoansService);
        const borrower = await userWithPin();
        const lender = uniquePhone();
        // Before the loan: a deposit made after it would go to the debt.
        await deposit(borrower, wallet);
        await deposit(lender, amount);
        const borrowerId = (await users.findOrRegister(borrower)).id;
        const loan = await loans.requestLoan({
          borrowerId,
          lenderPhoneNumber: lender,
          amount,
          repaymentPerDeposit: amount / 10,
        });
        await loans.approve(loan.id, (await users.findOrRegister(lender)).id);
        await users.setLanguage(borrowerId, language);
        return { borrower, lender };
      }

      it('is not offered after menu choices, read-only lists, or a loan or request picked from a list', async () => {
        /** A subscriber with something on every list: a loan to repay, a request to approve, transactions. */
        async function busy(): Promise<string> {
          const { borrower } = await borrowing(2000, 1000);
          const asking = await app.get(UsersService).findOrRegister(uniquePhone());
          await app
            .get(LoansService)
            .requestLoan({ borrowerId: asking.id, lenderPhoneNumber: borrower, amount: 500, repaymentPerDeposit: 50 });
          return borrower;
        }
        const paths = [
          ['1'], // Request Loan: the lender's number asked, nothing typed yet
          ['2'], // My Loans
          ['2', '1'], // a loan picked
          ['3'], // the approval list
          ['3', '1'], // a request picked
          ['3', '1', '1'], // Approve chosen: the PIN asked
          ['4'], // balance
          ['5'], // transaction history
          ['6'], // the loans to repay
          ['6', '1'], // a loan to repay picked: the amount asked
          ['7'], // My Account
          ['7', '1'], // Top up: the amount asked
          ['7', '2'], // Withdraw: the amount asked
        ];
        const redialled: Record<string, string> = {};
        for (const path of paths) {
          // One subscriber per path: each starts afresh, within the per-phone rate limit.
          const phone = new CheckedAtPhone(app, await busy());
          expect(await phone.dial()).toBe(con(MAIN_MENU));
          for (const typed of path) await phone.reply(typed);
          // Hung up there: the new dial gets a new session.
          redialled[path.join(' ')] = await phone.dial();
        }
        expect(redialled).toEqual(Object.fromEntries(paths.map((path) => [path.join(' '), con(MAIN_MENU)])));
      });

      it("offers to continue a loan request once the lender's number is typed, and names the number", async () => {
        const lender = uniquePhone();
        const phone = new CheckedAtPhone(app, uniquePhone());
        await phone.dial();
        await phone.reply('1');
        expect(await phone.reply(localDigits(lender))).toBe(con(SCREENS.amount));
        expect(await phone.dial()).toBe(
          con(`Continue your loan request to ${local(lender)}?\n1. Continue\n2. Start again`),
        );
        expect(await phone.reply('1')).toBe(con(SCREENS.amount));
        expect(await phone.reply('5000')).toBe(con(SCREENS.repayment));
      });

      it('offers to continue a withdrawal or a repayment once the amount is typed, at the largest amounts too', async () => {
        const { borrower, lender } = await borrowing(250_000, 250_000);
        const phone = new CheckedAtPhone(app, borrower);
        await phone.dial();
        for (const typed of ['7', '2']) await phone.reply(typed);
        expect(await phone.reply('250000')).toBe(con(SCREENS.pinEnter));
        const withdrawal = `Continue your withdrawal of Ksh 250000?\n1. Continue\n2. Start again`;
        expect(await phone.dial()).toBe(con(withdrawal));
        expect(await phone.reply('1')).toBe(con(SCREENS.pinEnter));
        // Lost again at the PIN: the withdrawal is still there to continue; start again instead.
        expect(await phone.dial()).toBe(con(withdrawal));
        expect(await phone.reply('2')).toBe(con(MAIN_MENU));

        for (const typed of ['6', '1']) await phone.reply(typed);
        expect(await phone.reply('250000')).toBe(con(SCREENS.pinEnter));
        const repayment = `Continue your repayment of Ksh 250000 to ${local(lender)}?\n1. Continue\n2. Start again`;
        expect(await phone.dial()).toBe(con(repayment));
        expect(await phone.reply('1')).toBe(con(SCREENS.pinEnter));
        for (const screen of [withdrawal, repayment]) expect(screen.length).toBeLessThanOrEqual(160);
      });

      it('says it in Kiswahili to a Kiswahili subscriber', async () => {
        const { borrower, lender } = await borrowing(250_000, 250_000, 'sw');
        const other = uniquePhone();
        const options = '\n1. Endelea\n2. Anza upya';
        const offers: string[] = [];
        const phone = new CheckedAtPhone(app, borrower);
        for (const [path, offer] of [
          [['1', localDigits(other)], `Endelea na ombi lako la mkopo kwa ${local(other)}?${options}`],
          [['7', '2', '250000'], `Endelea kutoa Ksh 250000?${options}`],
          [['6', '1', '250000'], `Endelea kulipa Ksh 250000 kwa ${local(lender)}?${options}`],
        ] as const) {
          expect(await phone.dial()).toBe(con(MAIN_MENU_SW));
          for (const typed of path) await phone.reply(typed);
          expect(await phone.dial()).toBe(con(offer));
          expect(await phone.reply('2')).toBe(con(MAIN_MENU_SW));
          offers.push(offer);
        }
        for (const offer of offers) expect(offer.length).toBeLessThanOrEqual(160);
      });
    });

    it('is not offered once the resume window has passed, nor after a finished journey', async () => {
      const { phone } = await midRequest();
      // The resume entry outlives the session by USSD_RESUME_SECONDS; its expiry is this delete.
      expect(await redis.del(app.get(UssdSessionStore).resumeKey(phone.phoneNumber))).toBe(1);
      expect(await phone.dial()).toBe(con(MAIN_MENU));

      const done = new CheckedAtPhone(app, uniquePhone());
      await done.dial();
      for (const typed of ['1', uniquePhone(), '400', '40', '1', '4821']) await done.reply(typed);
      expect(await done.reply('4821')).toMatch(/^CON SUCCESS\n/);
      expect(await done.dial()).toBe(con(MAIN_MENU));
    });
  });

  describe('shortcut dials', () => {
    it("Africa's Talking: a first request with text 1*0722000000 lands on the amount prompt", async () => {
      const phone = new CheckedAtPhone(app, uniquePhone());
      expect(await phone.dial('1*0722000000')).toBe(con(SCREENS.amount));
      expect(await phone.reply('5000')).toBe(con(SCREENS.repayment));
      expect(await phone.reply('500')).toBe(con(SCREENS.confirm('254722000000', 5000, 500)));
      // The shortcut built the real journey: back goes through the screens it skipped.
      expect(await phone.reply('0')).toBe(con(MAIN_MENU));
    });

    it('Hubtel: Initiation with Message *383*1*0722000000# lands on the amount prompt', async () => {
      const phone = uniquePhone();
      const sessionId = `hubtel-${phone}`;
      const hubtel = async (body: Record<string, unknown>) => {
        const res = await app.inject({ method: 'POST', url: '/api/ussd/handler/hubtel', payload: body });
        expect(res.statusCode).toBe(200);
        const reply = res.json<{ Type: string; Message: string; ClientState: string }>();
        checkScreen(reply.Message);
        return reply;
      };
      const base = { Mobile: phone, SessionId: sessionId, ServiceCode: '*383#', Operator: 'safaricom' };
      const first = await hubtel({ ...base, Type: 'Initiation', Message: '*383*1*0722000000#', Sequence: 1 });
      expect(first).toEqual({ Type: 'Response', Message: SCREENS.amount, ClientState: '' });
      const second = await hubtel({ ...base, Type: 'Response', Message: '5000', Sequence: 2 });
      expect(second).toEqual({ Type: 'Response', Message: SCREENS.repayment, ClientState: '' });
    });
  });

  describe('a session belongs to its phone', () => {
    it('gives another phone sending the same session id a session of its own; the owner carries on', async () => {
      const owner = uniquePhone();
      const other = uniquePhone();
      const sessionId = `ATUid_shared_${owner}`;
      expect((await atPost(app, { sessionId, phoneNumber: owner, text: '' })).body).toBe(con(MAIN_MENU));
      expect((await atPost(app, { sessionId, phoneNumber: owner, text: '1' })).body).toBe(con(SCREENS.lenderPhone));
      // The other phone's first request with that id is its own dial; what it types next is its own journey.
      expect((await atPost(app, { sessionId, phoneNumber: other, text: '' })).body).toBe(con(MAIN_MENU));
      expect((await atPost(app, { sessionId, phoneNumber: other, text: '4' })).body).toMatch(/^(CON|END) BALANCE/);
      // The owner's session is where the owner left it: the lender's number goes on to the amount.
      expect((await atPost(app, { sessionId, phoneNumber: owner, text: '1*0722000000' })).body).toBe(
        con(SCREENS.amount),
      );

      // The same over the generic dialect.
      const g = new GenericPhone(app, uniquePhone());
      expect(await g.send('')).toEqual(input(MAIN_MENU));
      expect(await g.send('1')).toEqual(input(SCREENS.lenderPhone));
      const res = await app.inject({
        method: 'POST',
        url: '/api/ussd/handler',
        payload: { sessionId: g.sessionId, phoneNumber: other, text: '', serviceCode: '*383#' },
      });
      expect(res.json()).toEqual(input(MAIN_MENU));
      expect(await g.send('0722000000')).toEqual(input(SCREENS.amount));
    });
  });

  describe('PIN lockout', () => {
    it('locks the PIN after three wrong tries; the right PIN is then refused too; no loan is made', async () => {
      const borrower = await userWithPin('4821');
      const lender = uniquePhone();
      const toPin = async (phone: CheckedAtPhone) => {
        await phone.dial();
        for (const typed of ['1', lender, '2000', '200']) await phone.reply(typed);
        expect(await phone.reply('1')).toBe(con(SCREENS.pinEnter));
      };
      const phone = new CheckedAtPhone(app, borrower);
      await toPin(phone);
      expect(await phone.reply('1111')).toBe(con(`Wrong PIN. 2 attempt(s) left.\n${SCREENS.pinEnter}`));
      expect(await phone.reply('9999')).toBe(con(`Wrong PIN. 1 attempt(s) left.\n${SCREENS.pinEnter}`));
      expect(await phone.reply('1212')).toBe(end('Too many wrong PINs. Your PIN is locked for 30 minutes.'));

      const again = new CheckedAtPhone(app, borrower);
      await toPin(again);
      expect(await again.reply('4821')).toMatch(/^END Too many wrong PINs\. Your PIN is locked for (29|30) minutes\.$/);
      expect(await loansOf(app, borrower)).toEqual([]);

      // Locked across channels: the API login with the right PIN is refused as well.
      const login = await new ApiClient(app).call('POST', '/api/auth/login', {
        body: { phoneNumber: borrower, pin: '4821' },
      });
      expect(login.status).toBe(423);
      expect(login.body).toMatchObject({ code: 'USER.PIN_LOCKED' });
    });
  });
});
