import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { LoansService } from '../src/loans/loans.service.js';
import { UsersService } from '../src/users/users.service.js';
import { localDigits } from '../src/common/phone-number.js';
import { WalletService } from '../src/wallet/wallet.service.js';
import { ADMIN_KEY, ApiClient } from './support/api-client.js';
import { ownRedisPrefix, startTestApp, uniquePhone } from './support/test-app.js';
import {
  CheckedAtPhone,
  GenericPhone,
  MAIN_MENU,
  MAIN_MENU_SW,
  NAV,
  NAV_SW,
  SCREENS,
  input,
  loansOf,
  local,
  nairobiDayMonth,
  notification,
  subscriberWithPin,
} from './support/ussd-clients.js';

/**
 * The *383# journeys end to end through the webhook, against real PostgreSQL and Redis: the seed's
 * "Request a Loan" example, approval, balances, pagination, and back/home from every depth.
 */
describe('USSD journeys', () => {
  let app: NestFastifyApplication;
  let api: ApiClient;
  let db: DataSource;

  beforeAll(async () => {
    // 30 pending requests from one borrower for the pagination test.
    ({ app } = await startTestApp({
      ADMIN_API_KEY: ADMIN_KEY,
      APP_ROLE: 'api',
      REDIS_KEY_PREFIX: ownRedisPrefix(),
      LOAN_MAX_PENDING: '100',
    }));
    api = new ApiClient(app);
    db = app.get(DataSource);
  });
  afterAll(() => app.close());

  const con = (screen: string) => `CON ${screen}`;
  const end = (screen: string) => `END ${screen}`;

  const userWithPin = (pin = '4821') => subscriberWithPin(app, pin);

  async function deposit(phoneNumber: string, amount: number) {
    const res = await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber, amount, reference: `USSD-${phoneNumber}-${amount}-${Date.now()}` },
    });
    expect(res.status).toBe(201);
  }

  /** The seed's request flow over Africa's Talking, for a borrower without a PIN yet. */
  async function requestByAt(borrower: string, lender: string, amount: number, repayment: number, pin = '4821') {
    const phone = new CheckedAtPhone(app, borrower);
    expect(await phone.dial()).toBe(con(MAIN_MENU));
    expect(await phone.reply('1')).toBe(con(SCREENS.lenderPhone));
    expect(await phone.reply(lender)).toBe(con(SCREENS.amount));
    expect(await phone.reply(String(amount))).toBe(con(SCREENS.repayment));
    expect(await phone.reply(String(repayment))).toBe(con(SCREENS.confirm(lender, amount, repayment)));
    expect(await phone.reply('1')).toBe(con(SCREENS.pinCreate));
    expect(await phone.reply(pin)).toBe(con(SCREENS.pinConfirm));
    expect(await phone.reply(pin)).toBe(con(SCREENS.sent(lender)));
    const [loan] = await loansOf(app, borrower);
    return loan;
  }

  describe("the seed's Request a Loan example", () => {
    it('runs step by step over the generic JSON dialect', async () => {
      const borrower = uniquePhone();
      const lender = uniquePhone();
      const phone = new GenericPhone(app, borrower);

      expect(await phone.send('')).toEqual(input(MAIN_MENU));
      expect(await phone.send('1')).toEqual(input('REQUEST LOAN\nEnter lender phone:\n0. Back 00. Home'));
      expect(await phone.send(lender)).toEqual(input('Enter loan amount (Ksh):\n0. Back 00. Home'));
      expect(await phone.send('5000')).toEqual(input('Enter repayment per deposit (Ksh):\n0. Back 00. Home'));
      expect(await phone.send('500')).toEqual(
        input(`CONFIRM LOAN\nLender: ${local(lender)}\nAmount: Ksh 5000\nRepayment: Ksh 500\n1. Confirm 0. Cancel`),
      );
      expect(await loansOf(app, borrower)).toEqual([]);
      expect(await phone.send('1')).toEqual(input('Create a 4-digit PIN:\n0. Back 00. Home'));
      expect(await phone.send('4821')).toEqual(input('Confirm PIN:\n0. Back 00. Home'));
      expect(await phone.send('4821')).toEqual(
        input(`SUCCESS\nLoan request sent to ${local(lender)}\n0. Back 00. Home`),
      );

      const loans = await loansOf(app, borrower);
      expect(loans).toEqual([
        expect.objectContaining({
          status: 'PENDING',
          principal: 5000,
          repayment: 500,
          outstanding: 5000,
          lender,
          borrower,
        }),
      ]);
      // The PIN is stored hashed, never in clear.
      const [{ pin_hash: hash }] = await db.query<{ pin_hash: string }[]>(
        `SELECT pin_hash FROM users WHERE phone_number = $1`,
        [borrower],
      );
      expect(hash).toEqual(expect.any(String));
      expect(hash).not.toContain('4821');

      // From SUCCESS, 0 goes to the main menu and 0 there ends the session.
      expect(await phone.send('0')).toEqual(input(MAIN_MENU));
      expect(await phone.send('0')).toEqual(notification('Thank you for using M-PESA Loans.'));
    });

    it("runs step by step over Africa's Talking, normalising a local lender number", async () => {
      const borrower = uniquePhone();
      const lender = uniquePhone();
      const phone = new CheckedAtPhone(app, borrower);

      expect(await phone.dial()).toBe(con(MAIN_MENU));
      expect(await phone.reply('1')).toBe(con('REQUEST LOAN\nEnter lender phone:\n0. Back 00. Home'));
      // Invalid input re-asks the same step with a one-line reason.
      expect(await phone.reply('12345')).toBe(con(`Use a number like 0712345678.\n${SCREENS.lenderPhone}`));
      expect(await phone.reply(borrower)).toBe(con(`You cannot borrow from yourself.\n${SCREENS.lenderPhone}`));
      expect(await phone.reply(localDigits(lender))).toBe(con('Enter loan amount (Ksh):\n0. Back 00. Home'));
      expect(await phone.reply('99')).toBe(con(`Enter a whole amount from Ksh 100 to Ksh 250000.\n${SCREENS.amount}`));
      expect(await phone.reply('5000')).toBe(con('Enter repayment per deposit (Ksh):\n0. Back 00. Home'));
      expect(await phone.reply('5001')).toBe(
        con(`Enter a whole amount from Ksh 10 to Ksh 5000.\n${SCREENS.repayment}`),
      );
      expect(await phone.reply('500')).toBe(
        con(`CONFIRM LOAN\nLender: ${local(lender)}\nAmount: Ksh 5000\nRepayment: Ksh 500\n1. Confirm 0. Cancel`),
      );
      expect(await phone.reply('1')).toBe(con('Create a 4-digit PIN:\n0. Back 00. Home'));
      expect(await phone.reply('1234')).toBe(con(`Too easy. Avoid 1234 or 1111.\n${SCREENS.pinCreate}`));
      expect(await phone.reply('4821')).toBe(con('Confirm PIN:\n0. Back 00. Home'));
      expect(await phone.reply('4822')).toBe(con(`PINs did not match. Try again.\n${SCREENS.pinConfirm}`));
      expect(await phone.reply('4821')).toBe(con(`SUCCESS\nLoan request sent to ${local(lender)}\n0. Back 00. Home`));

      expect(await loansOf(app, borrower)).toEqual([
        expect.objectContaining({ status: 'PENDING', principal: 5000, repayment: 500, outstanding: 5000, lender }),
      ]);
      // The lender is told by SMS, the borrower's number written as on the screens.
      expect(await api.lastSms(lender, 'loan.requested')).toBe(
        `Deni: ${local(borrower)} asks you for a loan of Ksh 5000, repaid Ksh 500 per deposit. Dial *383# and choose 3 to answer.`,
      );

      // A second request asks for the PIN that now exists. The first journey was complete, so
      // the new dial is not offered to "continue" it.
      const again = new CheckedAtPhone(app, borrower);
      expect(await again.dial()).toBe(con(MAIN_MENU));
      await again.reply('1');
      await again.reply(uniquePhone());
      await again.reply('300');
      await again.reply('100');
      expect(await again.reply('1')).toBe(con(SCREENS.pinEnter));
      expect(await again.reply('4821')).toMatch(/^CON SUCCESS\n/);
      expect(await loansOf(app, borrower)).toHaveLength(2);
    });
  });

  describe('approving by USSD', () => {
    it('lets a funded lender approve with a PIN; balances and transactions show it for both', async () => {
      const borrower = uniquePhone();
      const lender = uniquePhone();
      const loan = await requestByAt(borrower, lender, 5000, 500);
      await deposit(lender, 6000);

      const l = new CheckedAtPhone(app, lender);
      expect(await l.dial()).toBe(con(MAIN_MENU));
      expect(await l.reply('3')).toBe(con(`APPROVE LOAN\n1. ${local(borrower)} Ksh 5000${NAV}`));
      expect(await l.reply('1')).toBe(
        con(`${local(borrower)} asks Ksh 5000\nRepay Ksh 500 per deposit\n1. Approve\n2. Decline${NAV}`),
      );
      expect(await l.reply('1')).toBe(con(SCREENS.pinCreate));
      expect(await l.reply('5930')).toBe(con(SCREENS.pinConfirm));
      expect(await l.reply('5930')).toBe(con(`APPROVED\nKsh 5000 sent to ${local(borrower)}.${NAV}`));
      expect(await loansOf(app, borrower)).toEqual([
        expect.objectContaining({ id: loan.id, status: 'ACTIVE', outstanding: 5000 }),
      ]);

      // Dates as the screen prints them (Nairobi day/month of each transfer), newest first.
      const dates = async (phone: string): Promise<string[]> =>
        (
          await db.query<{ created_at: Date }[]>(
            `SELECT t.created_at FROM transfers t JOIN accounts a ON a.id IN (t.debit_account_id, t.credit_account_id)
               JOIN users u ON u.id = a.user_id WHERE u.phone_number = $1 ORDER BY t.created_at DESC`,
            [phone],
          )
        ).map((r) => nairobiDayMonth(new Date(r.created_at)));
      const [lent, deposited] = await dates(lender);
      const [received] = await dates(borrower);
      expect(await l.reply('0')).toBe(con(MAIN_MENU));
      expect(await l.reply('4')).toBe(con(`BALANCE\nWallet: Ksh 1000\nYou owe: Ksh 0\nOwed to you: Ksh 5000${NAV}`));
      expect(await l.reply('0')).toBe(con(MAIN_MENU));
      expect(await l.reply('5')).toBe(con(`TRANSACTIONS\n${lent} Loan -5000\n${deposited} Deposit +6000${NAV}`));
      expect(await l.reply('00')).toBe(con(MAIN_MENU));
      expect(await l.reply('3')).toBe(con(`APPROVE LOAN\nNo requests are waiting for you.${NAV}`));

      const b = new CheckedAtPhone(app, borrower);
      expect(await b.dial()).toBe(con(MAIN_MENU));
      expect(await b.reply('4')).toBe(con(`BALANCE\nWallet: Ksh 5000\nYou owe: Ksh 5000\nOwed to you: Ksh 0${NAV}`));
      expect(await b.reply('0')).toBe(con(MAIN_MENU));
      expect(await b.reply('5')).toBe(con(`TRANSACTIONS\n${received} Loan +5000${NAV}`));
      expect(await b.reply('00')).toBe(con(MAIN_MENU));
      expect(await b.reply('2')).toBe(con(`MY LOANS\n1. From ${local(lender)} Ksh 5000${NAV}`));
      expect(await b.reply('1')).toBe(
        con(
          `Loan from ${local(lender)}\nAmount: Ksh 5000\nOutstanding: Ksh 5000\nPer deposit: Ksh 500\nStatus: Active${NAV}`,
        ),
      );
      expect(await api.lastSms(borrower, 'loan.approved')).toBe(
        `Deni: ${local(lender)} approved your loan. Ksh 5000 is in your wallet. Ksh 500 will be deducted per deposit. Balance: Ksh 5000`,
      );
    });

    it('shows an unfunded lender the wallet-short screen, moves no money, and approves after a deposit', async () => {
      const borrower = uniquePhone();
      const lender = uniquePhone();
      const loan = await requestByAt(borrower, lender, 1000, 100);

      const l = new CheckedAtPhone(app, lender);
      await l.dial();
      expect(await l.reply('3')).toBe(con(`APPROVE LOAN\n1. ${local(borrower)} Ksh 1000${NAV}`));
      await l.reply('1');
      expect(await l.reply('1')).toBe(con(SCREENS.pinCreate));
      await l.reply('5930');
      expect(await l.reply('5930')).toBe(con(`Your wallet has Ksh 0. You need Ksh 1000.\n1. Top up with M-PESA${NAV}`));

      expect(await loansOf(app, borrower)).toEqual([expect.objectContaining({ id: loan.id, status: 'PENDING' })]);
      const [{ n }] = await db.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM transfers WHERE loan_id = $1`, [
        loan.id,
      ]);
      expect(n).toBe(0);
      const users = app.get(UsersService);
      const wallet = app.get(WalletService);
      for (const who of [borrower, lender]) expect(await wallet.balance((await users.findOrRegister(who)).id)).toBe(0);

      // 1 leads to the top-up screen.
      expect(await l.reply('1')).toBe(con(SCREENS.topUp));
      expect(await l.reply('0')).toBe(con(`Your wallet has Ksh 0. You need Ksh 1000.\n1. Top up with M-PESA${NAV}`));

      await deposit(lender, 1000);
      const again = new CheckedAtPhone(app, lender);
      // The journey was left mid-way, but after choices alone (nothing typed): no offer to resume it.
      expect(await again.dial()).toBe(con(MAIN_MENU));
      await again.reply('3');
      await again.reply('1');
      expect(await again.reply('1')).toBe(con(SCREENS.pinEnter));
      expect(await again.reply('5930')).toBe(con(`APPROVED\nKsh 1000 sent to ${local(borrower)}.${NAV}`));
      expect(await loansOf(app, borrower)).toEqual([expect.objectContaining({ id: loan.id, status: 'ACTIVE' })]);
    });

    it('lets the lender decline', async () => {
      const borrower = uniquePhone();
      const lender = await userWithPin('5930');
      const loan = await requestByAt(borrower, lender, 700, 70);
      const l = new CheckedAtPhone(app, lender);
      await l.dial();
      await l.reply('3');
      await l.reply('1');
      expect(await l.reply('2')).toBe(con(SCREENS.pinEnter));
      expect(await l.reply('5930')).toBe(end(`Request from ${local(borrower)} declined.`));
      expect(await loansOf(app, borrower)).toEqual([expect.objectContaining({ id: loan.id, status: 'DECLINED' })]);
    });
  });

  describe('pagination', () => {
    it('pages 30 loans three at a time with 98, to a last page without 98, and opens one from a later page', async () => {
      const borrower = uniquePhone();
      const lender = uniquePhone();
      const users = app.get(UsersService);
      const loans = app.get(LoansService);
      const me = await users.findOrRegister(borrower);
      for (let i = 0; i < 30; i += 1) {
        await loans.requestLoan({
          borrowerId: me.id,
          lenderPhoneNumber: lender,
          amount: 1000 + i,
          repaymentPerDeposit: 100,
        });
      }
      // Newest first: page p shows amounts 1029-3p, 1028-3p, 1027-3p.
      const pageOf = (p: number, more: boolean) =>
        con(
          [
            'MY LOANS',
            ...[0, 1, 2].map((i) => `${i + 1}. From ${local(lender)} Ksh ${1029 - 3 * p - i}`),
            ...(more ? ['98. More'] : []),
          ].join('\n') + NAV,
        );
      const detail = (amount: number) =>
        con(
          `Loan from ${local(lender)}\nAmount: Ksh ${amount}\nOutstanding: Ksh ${amount}\nPer deposit: Ksh 100\nStatus: Pending${NAV}`,
        );

      const phone = new CheckedAtPhone(app, borrower);
      await phone.dial();
      expect(await phone.reply('2')).toBe(pageOf(0, true));
      for (let p = 1; p <= 4; p += 1) expect(await phone.reply('98')).toBe(pageOf(p, true));
      // Item 3 of page 4 (the fifth page) is the 15th newest: 1015.
      expect(await phone.reply('3')).toBe(detail(1015));
      expect(await phone.reply('0')).toBe(pageOf(4, true));
      for (let p = 5; p <= 9; p += 1) expect(await phone.reply('98')).toBe(pageOf(p, p < 9));
      // The last page offers no 98, and 98 there is not a choice.
      expect(await phone.reply('98')).toBe(con(`Invalid choice.\n${pageOf(9, false).slice(4)}`));
      expect(await phone.reply('2')).toBe(detail(1001));
      expect(await phone.reply('00')).toBe(con(MAIN_MENU));

      // The lender sees the same loans as lent.
      const l = new CheckedAtPhone(app, lender);
      await l.dial();
      expect(await l.reply('2')).toBe(
        con(
          `MY LOANS\n1. To ${local(borrower)} Ksh 1029\n2. To ${local(borrower)} Ksh 1028\n3. To ${local(borrower)} Ksh 1027\n98. More${NAV}`,
        ),
      );
      expect(await l.reply('1')).toBe(
        con(
          `Loan to ${local(borrower)}\nAmount: Ksh 1029\nOutstanding: Ksh 1029\nPer deposit: Ksh 100\nStatus: Pending${NAV}`,
        ),
      );
    });
  });

  describe('back (0) and home (00)', () => {
    // Each step: the input typed, and the screen it leads to.
    const LENDER = '0711000111';
    const request = (withPin: boolean): [string, string][] => [
      ['1', SCREENS.lenderPhone],
      [LENDER, SCREENS.amount],
      ['5000', SCREENS.repayment],
      ['500', SCREENS.confirm('254711000111', 5000, 500)],
      ['1', withPin ? SCREENS.pinEnter : SCREENS.pinCreate],
      ...(withPin ? [] : ([['4821', SCREENS.pinConfirm]] as [string, string][])),
    ];
    // Back from the confirm screen is its "0. Cancel": the seed sends it to the main menu.
    const previous = (steps: [string, string][], depth: number) =>
      depth === 0 || steps[depth][1] === steps[3][1] ? MAIN_MENU : steps[depth - 1][1];

    const account: [string, string][] = [
      ['7', SCREENS.account],
      ['3', SCREENS.pinOld],
      ['4821', SCREENS.pinNew],
      ['5930', SCREENS.pinConfirm],
    ];
    const accountLeaves: [string, string][] = [
      ['1', SCREENS.topUp],
      ['2', SCREENS.withdraw(0)],
      ['4', SCREENS.language],
    ];

    async function walk(steps: [string, string][], depth: number, withPin: boolean) {
      const phone = new CheckedAtPhone(app, withPin ? await userWithPin('4821') : uniquePhone());
      expect(await phone.dial()).toBe(con(MAIN_MENU));
      for (const [typed, screen] of steps.slice(0, depth + 1)) expect(await phone.reply(typed)).toBe(con(screen));
      return phone;
    }

    const requestCases = [
      ...request(false).map((_, depth) => ({
        name: request(false)[depth][1].split('\n')[0],
        steps: request(false),
        depth,
        withPin: false,
      })),
      { name: 'Enter your 4-digit PIN:', steps: request(true), depth: 4, withPin: true },
    ];
    it.each(requestCases)(
      'request loan, at "$name": 0 shows the previous screen, 00 the main menu',
      async ({ steps, depth, withPin }) => {
        const back = await walk(steps, depth, withPin);
        expect(await back.reply('0')).toBe(con(previous(steps, depth)));
        const home = await walk(steps, depth, withPin);
        expect(await home.reply('00')).toBe(con(MAIN_MENU));
        expect(await loansOf(app, back.phoneNumber)).toEqual([]);
        expect(await loansOf(app, home.phoneNumber)).toEqual([]);
      },
    );

    it('back keeps the journey: answers given again lead on with the new values', async () => {
      const phone = await walk(request(false), 2, false);
      expect(await phone.reply('0')).toBe(con(SCREENS.amount));
      expect(await phone.reply('0')).toBe(con(SCREENS.lenderPhone));
      expect(await phone.reply('0722333444')).toBe(con(SCREENS.amount));
      expect(await phone.reply('6000')).toBe(con(SCREENS.repayment));
      expect(await phone.reply('600')).toBe(con(SCREENS.confirm('254722333444', 6000, 600)));
      expect(await phone.reply('1')).toBe(con(SCREENS.pinCreate));
      expect(await phone.reply('0')).toBe(con(SCREENS.confirm('254722333444', 6000, 600)));
    });

    const accountCases = [
      ...account.map((_, depth) => ({ name: account[depth][1].split('\n')[0], steps: account, depth })),
      ...accountLeaves.map((leaf) => ({ name: leaf[1].split('\n')[0], steps: [account[0], leaf], depth: 1 })),
    ];
    it.each(accountCases)(
      'my account, at "$name": 0 shows the previous screen, 00 the main menu',
      async ({ steps, depth }) => {
        const back = await walk(steps, depth, true);
        expect(await back.reply('0')).toBe(con(depth === 0 ? MAIN_MENU : steps[depth - 1][1]));
        const home = await walk(steps, depth, true);
        expect(await home.reply('00')).toBe(con(MAIN_MENU));
      },
    );

    it('changes the PIN through My Account', async () => {
      const phone = await walk(account, 3, true);
      expect(await phone.reply('5930')).toBe(end('Your PIN has been changed.'));
      const users = app.get(UsersService);
      const user = await users.findOrRegister(phone.phoneNumber);
      await expect(users.verifyPin(user.id, '5930')).resolves.toBeUndefined();
    });
  });

  describe('numbers as Kenyans read them', () => {
    const CONFIRM_0722_000_001 =
      'CONFIRM LOAN\nLender: 0722 000 001\nAmount: Ksh 5000\nRepayment: Ksh 500\n1. Confirm 0. Cancel';

    it('shows the lender as 0722 000 001 on the confirm screen, whatever form was typed, in both languages', async () => {
      for (const typed of ['0722000001', '254722000001', '+254722000001']) {
        const phone = new CheckedAtPhone(app, uniquePhone());
        await phone.dial();
        await phone.reply('1');
        expect(await phone.reply(typed)).toBe(con(SCREENS.amount));
        await phone.reply('5000');
        expect(await phone.reply('500')).toBe(con(CONFIRM_0722_000_001));
        // Cancelled: nothing is asked of 0722 000 001.
        expect(await phone.reply('0')).toBe(con(MAIN_MENU));
        expect(await loansOf(app, phone.phoneNumber)).toEqual([]);
      }
      const mswahili = uniquePhone();
      const users = app.get(UsersService);
      await users.setLanguage((await users.findOrRegister(mswahili)).id, 'sw');
      const phone = new CheckedAtPhone(app, mswahili);
      expect(await phone.dial()).toBe(con(MAIN_MENU_SW));
      await phone.reply('1');
      await phone.reply('0722000001');
      await phone.reply('5000');
      expect(await phone.reply('500')).toBe(
        con('THIBITISHA MKOPO\nMkopeshaji: 0722 000 001\nKiasi: Ksh 5000\nMalipo: Ksh 500\n1. Thibitisha 0. Ghairi'),
      );
    });

    it('writes the other party the same way on the result screens, in the lists and in SMS, in Kiswahili', async () => {
      const users = app.get(UsersService);
      const borrower = uniquePhone();
      const lender = await userWithPin('5930');
      for (const who of [borrower, lender]) await users.setLanguage((await users.findOrRegister(who)).id, 'sw');

      const b = new CheckedAtPhone(app, borrower);
      expect(await b.dial()).toBe(con(MAIN_MENU_SW));
      await b.reply('1');
      await b.reply(localDigits(lender));
      await b.reply('5000');
      await b.reply('500');
      await b.reply('1');
      await b.reply('4821');
      expect(await b.reply('4821')).toBe(con(`IMEFANIKIWA\nOmbi la mkopo limetumwa kwa ${local(lender)}${NAV_SW}`));
      expect(await api.lastSms(lender, 'loan.requested')).toBe(
        `Deni: ${local(borrower)} anaomba mkopo wa Ksh 5000, kulipwa Ksh 500 kila amana. Piga *383# uchague 3 kujibu.`,
      );
      expect(await b.reply('0')).toBe(con(MAIN_MENU_SW));
      expect(await b.reply('2')).toBe(con(`MIKOPO YANGU\n1. Kutoka ${local(lender)} Ksh 5000${NAV_SW}`));

      await deposit(lender, 5000);
      const l = new CheckedAtPhone(app, lender);
      await l.dial();
      expect(await l.reply('3')).toBe(con(`KUBALI MKOPO\n1. ${local(borrower)} Ksh 5000${NAV_SW}`));
      await l.reply('1');
      await l.reply('1');
      expect(await l.reply('5930')).toBe(con(`IMEKUBALIWA\nKsh 5000 imetumwa kwa ${local(borrower)}.${NAV_SW}`));
      expect(await api.lastSms(borrower, 'loan.approved')).toBe(
        `Deni: ${local(lender)} amekubali mkopo wako. Ksh 5000 iko kwenye pochi. Ksh 500 itakatwa kila amana. Salio: Ksh 5000`,
      );
    });
  });

  describe('Kiswahili', () => {
    it('switches language in My Account; the next dial is in Kiswahili, and back', async () => {
      const me = uniquePhone();
      const phone = new CheckedAtPhone(app, me);
      await phone.dial();
      expect(await phone.reply('7')).toBe(con(SCREENS.account));
      expect(await phone.reply('4')).toBe(con(SCREENS.language));
      expect(await phone.reply('2')).toBe(end('Lugha sasa ni Kiswahili.'));
      const [{ language }] = await db.query<{ language: string }[]>(
        `SELECT language FROM users WHERE phone_number = $1`,
        [me],
      );
      expect(language).toBe('sw');

      expect(await phone.dial()).toBe(con(MAIN_MENU_SW));
      expect(await phone.reply('1')).toBe(con(`OMBA MKOPO\nWeka nambari ya mkopeshaji:${NAV_SW}`));
      expect(await phone.reply('0722333444')).toBe(con(`Weka kiasi cha mkopo (Ksh):${NAV_SW}`));
      expect(await phone.reply('5000')).toBe(con(`Weka malipo kwa kila amana (Ksh):${NAV_SW}`));
      expect(await phone.reply('500')).toBe(
        con('THIBITISHA MKOPO\nMkopeshaji: 0722 333 444\nKiasi: Ksh 5000\nMalipo: Ksh 500\n1. Thibitisha 0. Ghairi'),
      );
      expect(await phone.reply('0')).toBe(con(MAIN_MENU_SW));
      expect(await phone.reply('7')).toBe(
        con(`AKAUNTI YANGU\n1. Ongeza pesa\n2. Toa pesa\n3. Badilisha PIN\n4. Lugha${NAV_SW}`),
      );
      expect(await phone.reply('4')).toBe(con(`LUGHA\n1. English\n2. Kiswahili${NAV_SW}`));
      expect(await phone.reply('1')).toBe(end('Language set to English.'));
      expect(await phone.dial()).toBe(con(MAIN_MENU));
    });
  });
});
