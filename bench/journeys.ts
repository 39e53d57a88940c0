/**
 * What the bench's virtual subscribers do: the population (numbers, PIN), and each scenario's
 * journey as the steps of one subscriber, each step one HTTP request with the screen its reply must
 * show. The driver (driver.ts) runs many at once.
 */

/** This run's name, in session ids and M-PESA receipts. */
export const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
const RUN_TAG = RUN_ID.replace(/[^A-Za-z0-9]/g, '').toUpperCase();

export const BORROWERS = 2000;
export const LENDERS = 400;
/** Borrowers of the deposits scenario, each with 1–3 active loans from the deposit lenders. */
export const DEPOSITORS = 500;
export const DEPOSIT_LENDERS = 100;
export const PIN = '4821';
export const REPAYMENT = 50;
/** What one deposit of the deposits scenario brings: enough for every loan's repayment (3 × 50). */
export const DEPOSIT_AMOUNT = 200;

const numbered = (head: string, count: number) => (i: number) => `${head}${String(i % count).padStart(5, '0')}`;
export const borrower = numbered('2547100', BORROWERS);
export const lender = numbered('2547200', LENDERS);
export const depositor = numbered('2547300', DEPOSITORS);
export const depositLender = numbered('2547400', DEPOSIT_LENDERS);
/** A number nobody has dialled from before in this run, one per journey number (up to 10 million). */
export const newcomer = (n: number) => `25479${String(n % 10_000_000).padStart(7, '0')}`;
/** As a subscriber types a number: `0710000001`. */
export const local = (msisdn: string) => `0${msisdn.slice(3)}`;

export interface HttpRequest {
  method: 'POST';
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface Step {
  /** The request, from the journey's context. */
  request: (ctx: Ctx) => HttpRequest;
  /** What the reply must contain (wrong screen otherwise). */
  expect: string;
  /** Called with the reply body when it was right. */
  after?: (ctx: Ctx, body: string) => void;
}

export interface Ctx {
  n: number;
  phone: string;
  sessionId: string;
  inputs: string[];
  kind?: 'approve' | 'deposit';
  lenderIndex?: number;
  borrowerPhone?: string;
}

export interface Journey {
  name: string;
  steps: number;
  /** Chooses the subscriber (and anything else) for journey number n. */
  begin: (n: number) => Ctx;
  step: (i: number, ctx: Ctx) => Step;
  end?: (ctx: Ctx, ok: boolean) => void;
  /** After a run: whatever journeys were cut off by the end of the run give back what they held. */
  reset?: () => void;
}

export const AT_HEADERS = (secret: string | undefined) => ({
  'content-type': 'application/x-www-form-urlencoded',
  ...(secret ? { 'x-ussd-secret': secret } : {}),
});

/** An Africa's Talking request: the session's accumulated text. */
export function atRequest(secret: string | undefined, session: string, phone: string, text: string): HttpRequest {
  return {
    method: 'POST',
    path: '/api/ussd/handler',
    headers: AT_HEADERS(secret),
    body: new URLSearchParams({
      sessionId: session,
      serviceCode: '*383#',
      phoneNumber: `+${phone}`,
      networkCode: '63902',
      text,
    }).toString(),
  };
}

function ussdStep(
  secret: string | undefined,
  inputs: (ctx: Ctx) => string[],
  expect: string,
  after?: Step['after'],
): Step {
  return {
    expect,
    after,
    request: (ctx) => atRequest(secret, ctx.sessionId, ctx.phone, inputs(ctx).join('*')),
  };
}

/** Every journey gets its own session id. */
const sessionId = (n: number) => `ATUid_${RUN_ID}_${n}`;

/** Loans created in the loan scenario, per lender index (for the approval scenario). */
const pendingByLender = new Array<number>(LENDERS).fill(0);
const freeLenders: number[] = Array.from({ length: LENDERS }, (_, i) => i);
const activeBorrowers: string[] = [];

function loanInputs(n: number): string[] {
  // Different amounts for the same borrower and lender: never a "duplicate request".
  const amount = 100 + (Math.floor(n / BORROWERS) % 5000);
  return ['1', local(lender(n)), String(amount), String(REPAYMENT)];
}

/**
 * dial → 1 → lender → amount → repayment → the confirm screen → 0 (cancel, back to the menu, so
 * the next dial of that phone is not offered "continue"). `phone` chooses the subscriber of
 * journey n: a registered borrower, or (first dials) a number never seen before.
 */
export function navigation(
  secret: string | undefined,
  expectScreens: boolean,
  options: { name?: string; phone?: (n: number) => string } = {},
): Journey {
  const e = (s: string) => (expectScreens ? s : 'CON');
  const path = (k: number) => (ctx: Ctx) => ctx.inputs.slice(0, k);
  const phone = options.phone ?? borrower;
  const steps = [
    ussdStep(secret, path(0), e('CON M-PESA LOANS')),
    ussdStep(secret, path(1), e('CON REQUEST LOAN')),
    ussdStep(secret, path(2), e('CON Enter loan amount')),
    ussdStep(secret, path(3), e('CON Enter repayment')),
    ussdStep(secret, path(4), e('CON CONFIRM LOAN')),
    ussdStep(secret, path(5), e('CON M-PESA LOANS')),
  ];
  return {
    name: options.name ?? 'navigation',
    steps: steps.length,
    begin: (n) => ({ n, phone: phone(n), sessionId: sessionId(n), inputs: [...loanInputs(n), '0'] }),
    step: (i) => steps[i],
  };
}

/** Navigation from a number never seen before on every journey: Deni registers each on its dial. */
export function firstDials(secret: string | undefined): Journey {
  return navigation(secret, true, { name: 'first dial', phone: newcomer });
}

export function loanRequest(secret: string): Journey {
  const path = (k: number) => (ctx: Ctx) => ctx.inputs.slice(0, k);
  const steps = [
    ussdStep(secret, path(0), 'CON M-PESA LOANS'),
    ussdStep(secret, path(1), 'CON REQUEST LOAN'),
    ussdStep(secret, path(2), 'CON Enter loan amount'),
    ussdStep(secret, path(3), 'CON Enter repayment'),
    ussdStep(secret, path(4), 'CON CONFIRM LOAN'),
    ussdStep(secret, path(5), 'CON Enter your 4-digit PIN'),
    ussdStep(secret, path(6), 'SUCCESS\nLoan request sent'),
  ];
  return {
    name: 'loan request',
    steps: steps.length,
    begin: (n) => ({ n, phone: borrower(n), sessionId: sessionId(n), inputs: [...loanInputs(n), '1', PIN] }),
    step: (i) => steps[i],
    end: (ctx, ok) => {
      if (ok) pendingByLender[ctx.n % LENDERS] += 1;
    },
  };
}

export function balance(secret: string): Journey {
  const steps = [ussdStep(secret, () => [], 'CON M-PESA LOANS'), ussdStep(secret, () => ['4'], 'BALANCE\nWallet: Ksh')];
  return {
    name: 'balance',
    steps: steps.length,
    begin: (n) => ({ n, phone: borrower(n), sessionId: sessionId(n), inputs: ['4'] }),
    step: (i) => steps[i],
  };
}

/**
 * Half the journeys: a lender approves the first request waiting for them (dial → 3 → 1 → 1 →
 * PIN); the other half: five operator deposits (POST /api/admin/deposits) for borrowers with
 * active loans, which the service allocates to their lenders. A lender is used by one
 * connection at a time, so two approvals never race for the same request.
 */
export function approvalsAndDeposits(secret: string, adminKey: string): Journey {
  const path = ['3', '1', '1', PIN];
  const busy = new Set<number>();
  let depositCounter = 0;
  let mix = 0;
  const approve = (i: number) =>
    ussdStep(
      secret,
      (ctx) => ctx.inputs.slice(0, i),
      ['CON M-PESA LOANS', 'CON APPROVE LOAN', 'asks Ksh', 'CON Enter your 4-digit PIN', 'APPROVED\nKsh'][i],
      i === 2
        ? (ctx, body) => {
            const m = body.match(/CON (0\d{9}) asks/);
            if (m) ctx.borrowerPhone = `254${m[1].slice(1)}`;
          }
        : undefined,
    );
  const deposit: Step = {
    expect: '"allocations"',
    request: (ctx) => {
      const phone = activeBorrowers.length
        ? activeBorrowers[Math.floor(Math.random() * activeBorrowers.length)]
        : borrower(ctx.n);
      const reference = `BENCH${RUN_TAG}D${depositCounter++}`;
      return {
        method: 'POST',
        path: '/api/admin/deposits',
        headers: { 'content-type': 'application/json', 'x-api-key': adminKey },
        body: JSON.stringify({ phoneNumber: phone, amount: 200, reference }),
      };
    },
  };
  return {
    name: 'approve + deposit',
    steps: 5,
    begin: (n) => {
      const ctx: Ctx = { n, phone: '', sessionId: sessionId(n), inputs: path, kind: 'deposit' };
      if (mix++ % 2 === 0) {
        const at = freeLenders.findIndex((l) => pendingByLender[l] > 0);
        if (at >= 0) {
          ctx.kind = 'approve';
          ctx.lenderIndex = freeLenders.splice(at, 1)[0]!;
          busy.add(ctx.lenderIndex);
          ctx.phone = lender(ctx.lenderIndex);
        }
      }
      return ctx;
    },
    step: (i, ctx) => (ctx.kind === 'approve' ? approve(i) : deposit),
    end: (ctx, ok) => {
      if (ctx.kind !== 'approve' || ctx.lenderIndex === undefined) return;
      if (ok) {
        pendingByLender[ctx.lenderIndex] -= 1;
        if (ctx.borrowerPhone) activeBorrowers.push(ctx.borrowerPhone);
      }
      busy.delete(ctx.lenderIndex);
      freeLenders.push(ctx.lenderIndex);
      ctx.lenderIndex = undefined;
    },
    reset: () => {
      freeLenders.push(...busy);
      busy.clear();
    },
  };
}

/**
 * A Daraja C2B confirmation for `phone`'s account (the paybill's account reference is the
 * subscriber's number, as they type it), with a receipt of its own.
 */
export function c2bConfirmation(phone: string, amount: number, transId: string, shortCode: string) {
  return {
    TransactionType: 'Pay Bill',
    TransID: transId,
    TransTime: '20261205120000',
    TransAmount: `${amount}.00`,
    BusinessShortCode: shortCode,
    BillRefNumber: local(phone),
    InvoiceNumber: '',
    OrgAccountBalance: '',
    ThirdPartyTransID: '',
    MSISDN: `${phone.slice(0, 5)} ***** ${phone.slice(-3)}`,
    FirstName: 'BENCH',
    MiddleName: '',
    LastName: '',
  };
}

/**
 * One paybill payment per journey, as M-PESA confirms it (Daraja's C2B confirmation callback,
 * Transaction Status switched off): credited to the depositor's wallet and allocated to their
 * 1–3 active loans. Depositors take turns, so the payments in flight are for different wallets.
 */
export function paybillDeposits(callbackSecret: string, shortCode: string): Journey {
  const step: Step = {
    expect: '"ResultCode":0',
    request: (ctx) => ({
      method: 'POST',
      path: `/api/mpesa/callbacks/${callbackSecret}/c2b/confirmation`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(
        c2bConfirmation(ctx.phone, DEPOSIT_AMOUNT, `B${RUN_TAG}${ctx.n.toString(36).toUpperCase()}`, shortCode),
      ),
    }),
  };
  return {
    name: 'deposits',
    steps: 1,
    begin: (n) => ({ n, phone: depositor(n), sessionId: '', inputs: [] }),
    step: () => step,
  };
}

/** How many loans depositor i has (1–3) and from which deposit lenders (all different). */
export function depositorLoans(i: number): number[] {
  return Array.from({ length: 1 + (i % 3) }, (_, j) => (i + j * 37) % DEPOSIT_LENDERS);
}
