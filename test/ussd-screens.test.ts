import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AppConfig } from '../src/config/app-config.js';
import { LoansService } from '../src/loans/loans.service.js';
import type { User } from '../src/users/user.entity.js';
import type { Language } from '../src/common/language.js';
import { UsersService } from '../src/users/users.service.js';
import type { UssdReply } from '../src/ussd/dialects.js';
import { JourneyEngine, newJourney, type JourneyState } from '../src/ussd/engine/journey-engine.js';
import { isGsm7 } from '../src/ussd/engine/screen-text.js';
import { ScreenId, type JourneyData, type ScreenContext, type ScreenDef } from '../src/ussd/engine/types.js';
import { OfflineBackend } from '../src/ussd/offline/offline-backend.js';
import { OnlineBackend, type OnlineServices } from '../src/ussd/backend/online-backend.js';
import type { UssdBackend } from '../src/ussd/backend/ussd-backend.js';
import { OfflineQueueService } from '../src/sync/offline-queue/offline-queue.service.js';
import { UssdSnapshotStore } from '../src/ussd/offline/snapshot.store.js';
import { translator } from '../src/ussd/i18n/translate.js';
import { journeyScreens } from '../src/ussd/journeys/index.js';
import { offerToResume } from '../src/ussd/journeys/main.journey.js';
import { formatLocal } from '../src/common/phone-number.js';
import { WalletService } from '../src/wallet/wallet.service.js';
import { WithdrawalService } from '../src/mpesa/withdrawal.service.js';
import { TopUpService } from '../src/mpesa/top-up.service.js';
import { startTestApp, uniquePhone } from './support/test-app.js';

/**
 * Every screen of the journey, in both languages, with realistic (long) data and without HTTP:
 * a breadth-first walk feeds each reachable screen a set of typical answers through the real
 * engine and the real services, and checks every reply against the USSD limits.
 */

const MAX = 160;
const PIN = '4821';
const WRONG_PIN = '1357';
/**
 * Typed on every screen. The right PIN comes before the wrong one, so each PIN screen clears the
 * lockout before failing once: the walk never locks itself out.
 */
const INPUTS = [
  '1',
  '2',
  '3',
  '4',
  '5',
  '6',
  '7',
  '8',
  '0',
  '00',
  '98',
  '0722000000',
  '250000',
  '100',
  PIN,
  WRONG_PIN,
  'abc',
];
/** Screens whose content depends on the loan chosen or the action behind the PIN: walked once per loan. */
const PER_LOAN = new Set<ScreenId>([
  ScreenId.LoanDetail,
  ScreenId.ApproveDetail,
  ScreenId.RepayAmount,
  ScreenId.PinEnter,
  ScreenId.PinCreate,
  ScreenId.PinConfirm,
]);

/** What is wrong, once per distinct screen text (with the first path that showed it). */
class Problems {
  private readonly found = new Map<string, string>();
  add(where: string, what: string): void {
    if (!this.found.has(what)) this.found.set(what, where);
  }
  list(): string[] {
    return [...this.found].map(([what, where]) => `${where}: ${what}`);
  }
}

interface Walked {
  rendered: Set<ScreenId>;
  replies: number;
  problems: Problems;
}

type Fit = (body: string, footer: string, end: boolean) => UssdReply;

describe('every USSD screen fits the limits, in English and Kiswahili', () => {
  let app: NestFastifyApplication;
  let config: AppConfig;
  let users: UsersService;
  let loans: LoansService;
  let services: OnlineServices;

  beforeAll(async () => {
    ({ app, config } = await startTestApp({ APP_ROLE: 'api', LOAN_MAX_PENDING: '100' }));
    users = app.get(UsersService);
    loans = app.get(LoansService);
    services = {
      loans,
      wallet: app.get(WalletService),
      users,
      withdrawals: app.get(WithdrawalService),
      topUps: app.get(TopUpService),
    };
  });
  afterAll(() => app?.close());

  async function other(): Promise<User> {
    return users.findOrRegister(uniquePhone());
  }

  async function ask(borrower: User, lender: User, amount: number, repayment: number) {
    return loans.requestLoan({
      borrowerId: borrower.id,
      lenderPhoneNumber: lender.phoneNumber,
      amount,
      repaymentPerDeposit: repayment,
    });
  }

  /**
   * A busy subscriber (PIN set): lends and borrows six-digit amounts, has repaid some, one loan
   * repaid in full, four requests waiting for approval (two beyond the wallet), own requests
   * pending, declined and cancelled; and a newcomer without a PIN or any loan.
   */
  async function seedWorld(language: Language): Promise<{ busy: User; newcomer: User }> {
    const busy = await users.findOrRegister(uniquePhone());
    await users.createPin(busy.id, PIN);
    await users.setLanguage(busy.id, language);
    const newcomer = await users.findOrRegister(uniquePhone());
    await users.setLanguage(newcomer.id, language);
    let n = 0;
    const deposit = (user: User, amount: number) =>
      loans.receiveDeposit({ userId: user.id, amount, reference: `screens-${user.phoneNumber}-${++n}` });

    await deposit(busy, 180_000);
    const borrower = await other();
    await loans.approve((await ask(borrower, busy, 150_000, 15_000)).id, busy.id);

    const borrowed: Array<[amount: number, perDeposit: number, repaid: number]> = [
      [250_000, 25_000, 245_000],
      [200_000, 20_000, 190_000],
      [100_000, 10_000, 99_000],
      [100_000, 10_000, 95_000],
      [125_000, 12_500, 125_000], // repaid in full
    ];
    for (const [amount, perDeposit, repaid] of borrowed) {
      const lender = await other();
      await deposit(lender, amount);
      const loan = await ask(busy, lender, amount, perDeposit);
      await loans.approve(loan.id, lender.id);
      await loans.repay(loan.id, busy.id, repaid, `screens-seed-${loan.id}`);
    }
    await deposit(busy, 1_500); // allocated to the active loans

    // Waiting for the busy subscriber: 250000 and 120000 are more than the wallet holds.
    for (const amount of [250_000, 100, 120_000, 999])
      await ask(await other(), busy, amount, Math.max(10, Math.floor(amount / 10)));
    await ask(busy, await other(), 180_000, 18_000);
    const declined = await ask(await other(), busy, 50_000, 5_000);
    await loans.decline(declined.id, busy.id);
    const cancelled = await ask(busy, await other(), 75_000, 7_500);
    await loans.cancel(cancelled.id, busy.id);

    expect(await services.wallet.balance(busy.id)).toBeLessThan(120_000);
    return { busy: await users.getById(busy.id), newcomer: await users.getById(newcomer.id) };
  }

  /** The engine the service builds, with a peek at every screen before it is fitted. */
  function engineFor(rendered: Set<ScreenId>, problems: Problems, where: () => string): JourneyEngine {
    const screens = new Map<ScreenId, ScreenDef>();
    for (const [id, def] of journeyScreens()) {
      screens.set(id, {
        ...def,
        render: (ctx) => {
          rendered.add(id);
          return def.render(ctx);
        },
      });
    }
    const engine = new JourneyEngine(screens, MAX);
    // A cut screen still fits (the engine drops lines or ends with '..'), so check what the
    // screen asked to show: it must fit whole and need no character replaced.
    const peek = engine as unknown as { fit: Fit };
    expect(typeof peek.fit).toBe('function');
    const fit = peek.fit.bind(engine);
    peek.fit = (body, footer, end) => {
      const whole = [body, footer].filter(Boolean).join('\n');
      if (whole.length > MAX) problems.add(where(), `${whole.length} characters before fitting:\n${whole}`);
      if (!isGsm7(whole)) problems.add(where(), `not GSM-7 before fitting: ${JSON.stringify(whole)}`);
      return fit(body, footer, end);
    };
    return engine;
  }

  /** Online: the services. Offline: the subscriber's snapshot and the offline queue. */
  type BackendFor = (user: User, language: Language) => UssdBackend;
  const online: BackendFor = (user, language) =>
    new OnlineBackend({ id: user.id, phoneNumber: user.phoneNumber, language }, services);
  async function offlineFor(user: User): Promise<BackendFor> {
    const store = app.get(UssdSnapshotStore);
    await store.refresh(user.id);
    const snapshot = (await store.get(user.phoneNumber))!;
    return () => new OfflineBackend(snapshot, users, app.get(OfflineQueueService));
  }

  function contextFor(
    user: User,
    language: Language,
    data: JourneyData,
    step: number,
    backendFor: BackendFor = online,
  ): (page: number) => ScreenContext {
    // As StepRunner.contextFor builds it.
    return (page) => ({
      user: { id: user.id, phoneNumber: user.phoneNumber, language },
      language,
      t: translator(language),
      data,
      page,
      backend: backendFor(user, language),
      actionKey: (name) => `ussd:screens-${user.id}:${step}:${name}`,
      settings: {
        minAmount: config.loans.minAmount,
        maxAmount: config.loans.maxAmount,
        lockMinutes: config.pin.lockMinutes,
        maxChars: MAX,
      },
    });
  }

  function checkReply(reply: UssdReply, where: string, problems: Problems): void {
    const m = reply.message;
    if (!m.trim()) problems.add(where, `empty reply (${JSON.stringify(m)})`);
    if (m.length > MAX) problems.add(where, `${m.length} characters: ${JSON.stringify(m)}`);
    if (!isGsm7(m)) problems.add(where, `not GSM-7: ${JSON.stringify(m)}`);
    if (/[{}]|undefined|NaN|null|\[object/.test(m)) problems.add(where, `placeholder leaked: ${JSON.stringify(m)}`);
    if (m.includes('..')) problems.add(where, `cut: ${JSON.stringify(m)}`);
  }

  /** Breadth-first over (screen, page, loan, PIN action), from the main menu and the resume offer. */
  async function walk(user: User, language: Language, into: Walked, backendFor: BackendFor = online): Promise<void> {
    let where = '';
    const engine = engineFor(into.rendered, into.problems, () => where);
    let step = 0;
    const seen = new Set<string>();
    const queue: Array<{ state: JourneyState; path: string[] }> = [];
    const keyOf = (state: JourneyState) => {
      const top = engine.current(state);
      const perLoan = PER_LOAN.has(top.screen)
        ? `${String(state.data.pinAction ?? '')}|${String(state.data.loanId ?? '')}`
        : '';
      return `${top.screen}|${top.page}|${perLoan}`;
    };
    const enqueue = (state: JourneyState, path: string[]) => {
      const key = keyOf(state);
      if (seen.has(key)) return;
      seen.add(key);
      queue.push({ state, path });
    };

    for (const first of [ScreenId.Main, ScreenId.Resume]) {
      // The resume offer with its longest question: a six-digit repayment to a full number.
      const state =
        first === ScreenId.Resume
          ? offerToResume(
              translator(language)('resume.repay', { amount: 250_000, other: formatLocal('254722000000') }),
              newJourney(),
            )
          : newJourney(first);
      where = `${language} ${user.phoneNumber} [${first}]`;
      const shown = await engine.show(state, contextFor(user, language, state.data, ++step, backendFor));
      into.replies += 1;
      checkReply(shown.reply, where, into.problems);
      enqueue(state, [first]);
    }
    while (queue.length) {
      const { state, path } = queue.shift()!;
      for (const input of INPUTS) {
        const branch = structuredClone(state);
        where = `${language} ${user.phoneNumber} [${[...path, input].join(' > ')}]`;
        const result = await engine.answer(branch, input, contextFor(user, language, branch.data, ++step, backendFor));
        into.replies += 1;
        checkReply(result.reply, `${where} on ${result.screen}`, into.problems);
        if (!result.reply.end) enqueue(branch, [...path, input]);
      }
    }
  }

  for (const language of ['en', 'sw'] as const) {
    it(`walks every screen in ${language === 'en' ? 'English' : 'Kiswahili'}`, async () => {
      const { busy, newcomer } = await seedWorld(language);
      const walked: Walked = { rendered: new Set(), replies: 0, problems: new Problems() };
      await walk(busy, language, walked);
      await walk(newcomer, language, walked);

      expect(walked.problems.list()).toEqual([]);
      const missing = Object.values(ScreenId).filter((id) => !walked.rendered.has(id));
      expect(missing).toEqual([]);
      expect(walked.replies).toBeGreaterThan(500);
    }, 240_000);

    it(`walks every screen offline (from a snapshot, writes queued) in ${language === 'en' ? 'English' : 'Kiswahili'}`, async () => {
      const { busy, newcomer } = await seedWorld(language);
      const walked: Walked = { rendered: new Set(), replies: 0, problems: new Problems() };
      await walk(busy, language, walked, await offlineFor(busy));
      await walk(newcomer, language, walked, await offlineFor(newcomer));
      expect(walked.problems.list()).toEqual([]);
      // Offline, a write ends the session with its reference: the screens after a write are not reached.
      const missing = Object.values(ScreenId).filter((id) => !walked.rendered.has(id));
      expect(missing.sort()).toEqual([ScreenId.ApproveDone, ScreenId.RepayDone, ScreenId.RequestSent].sort());
      expect(walked.replies).toBeGreaterThan(500);
    }, 240_000);
  }

  it('pages every list within the limits, even re-asked with the longest reason, and shows each item once', async () => {
    const lists = [
      [ScreenId.LoansList, 'all'],
      [ScreenId.ApproveList, 'awaiting-me'],
      [ScreenId.RepayList, 'repayable'],
    ] as const;
    for (const language of ['en', 'sw'] as const) {
      const { busy } = await seedWorld(language);
      for (const [mode, backendFor] of [
        ['online', online],
        ['offline', await offlineFor(busy)],
      ] as const) {
        for (const [list, filter] of lists) {
          const problems = new Problems();
          let where = '';
          const engine = engineFor(new Set(), problems, () => where);
          const state = newJourney();
          state.stack.push({ screen: list, page: 0 });
          const context = contextFor(busy, language, state.data, 1, backendFor);
          let shown = await engine.show(state, context);
          const items: string[] = [];
          for (let page = 0; page < 20; page += 1) {
            where = `${language} ${mode} ${list} page ${page + 1}`;
            checkReply(shown.reply, where, problems);
            // The same page asked again, with each reason a list can give above it.
            for (const key of ['invalid.option', 'invalid.listChanged'] as const) {
              const again = structuredClone(state);
              const reasked = await engine.show(again, contextFor(busy, language, again.data, 1, backendFor), { key });
              checkReply(reasked.reply, `${where} (${key})`, problems);
              expect(reasked.reply.message.split('\n').filter((l) => /^[1-9]\. /.test(l))).toEqual(
                shown.reply.message.split('\n').filter((l) => /^[1-9]\. /.test(l)),
              );
            }
            items.push(
              ...shown.reply.message
                .split('\n')
                .filter((l) => /^[1-9]\. /.test(l))
                .map((l) => l.slice(3)),
            );
            if (!state.more) break;
            shown = await engine.answer(state, '98', context);
          }
          expect(problems.list()).toEqual([]);
          // Every item on exactly one page, none skipped by a shorter page.
          const { total } = await backendFor(busy, language).loans(filter, 0, 1_000);
          expect({ where, items: items.length, distinct: new Set(items).size }).toEqual({
            where,
            items: total,
            distinct: total,
          });
        }
      }
    }
  }, 240_000);

  it('renders the busiest data screens within the limits when shown directly', async () => {
    // The longest values a screen can hold (six-digit amounts, a full international number).
    const data: JourneyData = {
      lender: '254722000000',
      other: '0722 000 000',
      amount: 250_000,
      repayment: 250_000,
      balance: 249_999,
      outstanding: 250_000,
    };
    const busy = await users.findOrRegister(uniquePhone());
    for (const language of ['en', 'sw'] as const) {
      const problems = new Problems();
      const rendered = new Set<ScreenId>();
      let where = '';
      const engine = engineFor(rendered, problems, () => where);
      for (const id of [
        ScreenId.RequestConfirm,
        ScreenId.RequestSent,
        ScreenId.ApproveDetail,
        ScreenId.ApproveDone,
        ScreenId.ApproveShort,
        ScreenId.RepayDone,
      ]) {
        for (const reason of [undefined, { key: 'invalid.option' as const }]) {
          const state = newJourney();
          state.stack.push({ screen: id, page: 0 });
          state.data = { ...data };
          where = `${language} ${id}${reason ? ' (re-asked)' : ''}`;
          const shown = await engine.show(state, contextFor(busy, language, state.data, 1), reason);
          checkReply(shown.reply, where, problems);
        }
      }
      // The resume offer of each journey that makes one, lost at the PIN.
      for (const path of [
        [ScreenId.RequestPhone, ScreenId.RequestAmount, ScreenId.RequestRepayment, ScreenId.RequestConfirm],
        [ScreenId.Account, ScreenId.WithdrawAmount],
        [ScreenId.RepayList, ScreenId.RepayAmount],
      ]) {
        const lost: JourneyState = {
          stack: [ScreenId.Main, ...path, ScreenId.PinEnter].map((screen) => ({ screen, page: 0 })),
          data: { ...data },
          more: false,
        };
        where = `${language} resume after ${path.join(' > ')}`;
        const question = engine.resumeQuestion(lost, translator(language));
        if (question === null) {
          problems.add(where, 'no resume offer');
          continue;
        }
        const offer = offerToResume(question, lost);
        checkReply((await engine.show(offer, contextFor(busy, language, offer.data, 1))).reply, where, problems);
      }
      expect(problems.list()).toEqual([]);
    }
  });
});
