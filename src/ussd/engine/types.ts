import type { Language } from '../../common/language.js';
import type { UssdBackend, UssdUser } from '../backend/ussd-backend.js';
import type { MessageKey } from '../i18n/en.js';
import type { Params, Translate } from '../i18n/translate.js';

/** Every screen of the journey. Names are stable: sessions in Redis refer to them. */
export enum ScreenId {
  Main = 'MAIN',
  Resume = 'RESUME',
  RequestPhone = 'REQUEST_LOAN_PHONE',
  RequestAmount = 'REQUEST_LOAN_AMOUNT',
  RequestRepayment = 'REQUEST_LOAN_REPAYMENT',
  RequestConfirm = 'REQUEST_LOAN_CONFIRM',
  RequestSent = 'REQUEST_LOAN_SENT',
  LoansList = 'VIEW_LOANS',
  LoanDetail = 'LOAN_DETAIL',
  ApproveList = 'APPROVAL_MENU',
  ApproveDetail = 'APPROVAL_CONFIRM',
  ApproveDone = 'APPROVAL_DONE',
  ApproveShort = 'APPROVAL_WALLET_SHORT',
  Balance = 'BALANCE',
  Transactions = 'TRANSACTIONS',
  RepayList = 'REPAY_MENU',
  RepayAmount = 'REPAY_AMOUNT',
  RepayDone = 'REPAY_DONE',
  Account = 'ACCOUNT',
  TopUpAmount = 'TOPUP_AMOUNT',
  WithdrawAmount = 'WITHDRAW_AMOUNT',
  Language = 'LANGUAGE',
  PinEnter = 'PIN_ENTER',
  PinCreate = 'PIN_CREATE',
  PinConfirm = 'PIN_CONFIRM',
  PinOld = 'PIN_OLD',
  PinNew = 'PIN_NEW',
  PinNewConfirm = 'PIN_NEW_CONFIRM',
}

export type JourneyValue = string | number | boolean | null;
export type JourneyData = Record<string, JourneyValue>;

export interface ScreenContext {
  user: UssdUser;
  language: Language;
  t: Translate;
  /** Values collected along the journey (lender, amount, selected loan…). */
  data: JourneyData;
  /** The page of a paginated screen (98 moves on). */
  page: number;
  /** Everything the screens read and write: the services when online, a snapshot and the offline queue when not. */
  backend: UssdBackend;
  /** Unique per session and action, for idempotency keys of the writes a screen makes. */
  actionKey(name: string): string;
  /** maxChars: USSD_MAX_CHARS, the most a screen holds (the engine's limit too). */
  settings: { minAmount: number; maxAmount: number; lockMinutes: number; maxChars: number };
}

export interface Rendered {
  body: string;
  /** A last screen: the session ends after it (END). */
  end?: boolean;
  /** There is a next page: the engine offers 98. */
  hasMore?: boolean;
}

/** What an answer leads to. */
export type Next =
  | { go: ScreenId }
  /** Show a screen that replaces the whole journey so far: `0` from it goes to the main menu. */
  | { finish: ScreenId }
  | { end: string }
  /** Back to the main menu, leaving the journey. */
  | { home: true }
  /** Re-ask the same screen, with a one-line reason above it. */
  | { invalid: MessageKey; params?: Params }
  /** Carry on with a journey kept from a lost session, where it stood. */
  | { resume: { stack: { screen: ScreenId; page: number }[]; data: JourneyData; more: boolean } };

/**
 * A screen that asks for something a subscriber types and a form keeps (a lender's number, an
 * amount), as opposed to a choice from a menu or a list. Every answer of the screen that leads on
 * stores the value in `data[key]`: a journey lost after such an answer is offered again on the
 * next dial, with `resumeQuestion` saying what would be continued.
 */
export interface FormField {
  key: string;
  /** "Continue your loan request to 0722 000 001?", in the subscriber's language. */
  resumeQuestion(ctx: Pick<ScreenContext, 'data' | 't'>): string;
}

export interface ScreenDef {
  id: ScreenId;
  render(ctx: ScreenContext): Promise<Rendered> | Rendered;
  /** Absent on screens that take no answer besides navigation. */
  onInput?(input: string, ctx: ScreenContext): Promise<Next> | Next;
  /** The screens an answer can lead to, for the journey diagram. */
  leadsTo: ScreenId[];
  /** Offer "0. Back" and "00. Home" (default true). */
  navigation?: boolean;
  /** What the screen collects, when it is typed rather than chosen. */
  form?: FormField;
}
