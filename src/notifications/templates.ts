import { formatKsh } from '../common/money.js';
import type { Language } from '../common/language.js';

/**
 * Every SMS Deni sends, in English and Kiswahili, each starting "Deni: " so the subscriber knows
 * who it is from. Parameters are typed per template; phone numbers are passed already written
 * with formatLocal (0712 345 678), as every screen shows them.
 */
export interface TemplateParams {
  'pin.changed': Record<string, never>;
  'pin.locked': { minutes: number };
  'auth.otp': { code: string; minutes: number };
  'loan.requested': { borrower: string; amount: number; repayment: number };
  'loan.approved': { lender: string; amount: number; repayment: number; balance: number };
  'loan.declined': { lender: string; amount: number };
  'loan.cancelled': { borrower: string; amount: number };
  'loan.expired': { lender: string; amount: number };
  'deposit.received': { amount: number; deducted: number; balance: number };
  'loan.repayment_received': { borrower: string; amount: number; outstanding: number };
  'loan.repaid_borrower': { lender: string; principal: number };
  'loan.repaid_lender': { borrower: string; principal: number };
  'mpesa.topup_failed': { amount: number; code: number };
  'mpesa.withdrawal_sent': { amount: number; receipt: string };
  'mpesa.withdrawal_failed': { amount: number };
  'mpesa.withdrawal_unconfirmed': { amount: number };
  'offline.applied': { reference: string; action: OfflineAction };
  'offline.rejected': { reference: string; action: OfflineAction; code: string };
  'offline.expired': { reference: string; action: OfflineAction };
}

/** What a write queued offline (by USSD while the database was down) was. */
export type OfflineAction = 'LOAN_REQUEST' | 'LOAN_APPROVAL' | 'LOAN_DECLINE' | 'REPAYMENT' | 'WITHDRAWAL';

const ACTION_NAMES: Record<OfflineAction, Record<Language, string>> = {
  LOAN_REQUEST: { en: 'loan request', sw: 'ombi la mkopo' },
  LOAN_APPROVAL: { en: 'loan approval', sw: 'kukubali mkopo' },
  LOAN_DECLINE: { en: 'decline of a request', sw: 'kukataa ombi' },
  REPAYMENT: { en: 'repayment', sw: 'malipo ya mkopo' },
  WITHDRAWAL: { en: 'withdrawal', sw: 'kutoa pesa' },
};

/** Why a queued write was refused, in words; the code itself for anything unforeseen. */
const REFUSALS: Record<string, Record<Language, string>> = {
  'WALLET.INSUFFICIENT_FUNDS': { en: 'not enough money in your wallet', sw: 'pesa haitoshi kwenye pochi yako' },
  'LOAN.NOT_PENDING': { en: 'the request is no longer waiting', sw: 'ombi halisubiri tena' },
  'LOAN.NOT_ACTIVE': { en: 'the loan is not active', sw: 'mkopo hauko hai' },
  'LOAN.REPAYMENT_EXCEEDS_OUTSTANDING': { en: 'it is more than you owe', sw: 'ni zaidi ya deni lako' },
  'LOAN.TOO_MANY_PENDING': { en: 'you have too many requests waiting', sw: 'una maombi mengi yanayosubiri' },
  'LOAN.DUPLICATE_REQUEST': { en: 'the same request is already waiting', sw: 'ombi hilo hilo tayari linasubiri' },
};

/** Why an M-PESA prompt did not end in a payment (Daraja's STK result codes). */
const STK_FAILURES: Record<number, Record<Language, string>> = {
  1: { en: 'not enough money in your M-PESA', sw: 'pesa haitoshi kwenye M-PESA yako' },
  1032: { en: 'you cancelled the request', sw: 'ulighairi ombi' },
  1037: { en: 'your phone did not answer', sw: 'simu yako haikujibu' },
  2001: { en: 'the M-PESA PIN was wrong', sw: 'PIN ya M-PESA haikuwa sahihi' },
};
const stkFailure = (code: number, language: Language) =>
  STK_FAILURES[code]?.[language] ?? (language === 'sw' ? 'M-PESA haikukamilisha malipo' : 'M-PESA did not complete it');

const action = (a: OfflineAction, language: Language) => ACTION_NAMES[a]?.[language] ?? a;
const refusal = (code: string, language: Language) => REFUSALS[code]?.[language] ?? code;

export type TemplateName = keyof TemplateParams;

type Renderers = { [T in TemplateName]: Record<Language, (p: TemplateParams[T]) => string> };

const TEMPLATES: Renderers = {
  'pin.changed': {
    en: () => 'Deni: your PIN was changed. If this was not you, call customer care now.',
    sw: () => 'Deni: PIN yako imebadilishwa. Kama si wewe, piga simu huduma kwa wateja sasa.',
  },
  'pin.locked': {
    en: (p) => `Deni: too many wrong PINs. Your PIN is locked for ${p.minutes} minutes.`,
    sw: (p) => `Deni: PIN zisizo sahihi zimezidi. PIN yako imefungwa kwa dakika ${p.minutes}.`,
  },
  'auth.otp': {
    en: (p) => `Deni: your code is ${p.code}. It expires in ${p.minutes} minutes. Never share it.`,
    sw: (p) => `Deni: nambari yako ni ${p.code}. Itaisha baada ya dakika ${p.minutes}. Usimpe mtu.`,
  },
  'loan.requested': {
    en: (p) =>
      `Deni: ${p.borrower} asks you for a loan of ${formatKsh(p.amount)}, repaid ${formatKsh(p.repayment)} per deposit. Dial *383# and choose 3 to answer.`,
    sw: (p) =>
      `Deni: ${p.borrower} anaomba mkopo wa ${formatKsh(p.amount)}, kulipwa ${formatKsh(p.repayment)} kila amana. Piga *383# uchague 3 kujibu.`,
  },
  'loan.approved': {
    en: (p) =>
      `Deni: ${p.lender} approved your loan. ${formatKsh(p.amount)} is in your wallet. ${formatKsh(p.repayment)} will be deducted per deposit. Balance: ${formatKsh(p.balance)}`,
    sw: (p) =>
      `Deni: ${p.lender} amekubali mkopo wako. ${formatKsh(p.amount)} iko kwenye pochi. ${formatKsh(p.repayment)} itakatwa kila amana. Salio: ${formatKsh(p.balance)}`,
  },
  'loan.declined': {
    en: (p) => `Deni: ${p.lender} declined your loan request of ${formatKsh(p.amount)}.`,
    sw: (p) => `Deni: ${p.lender} amekataa ombi lako la mkopo wa ${formatKsh(p.amount)}.`,
  },
  'loan.cancelled': {
    en: (p) => `Deni: ${p.borrower} cancelled the loan request of ${formatKsh(p.amount)}.`,
    sw: (p) => `Deni: ${p.borrower} amefuta ombi la mkopo wa ${formatKsh(p.amount)}.`,
  },
  'loan.expired': {
    en: (p) => `Deni: your loan request of ${formatKsh(p.amount)} to ${p.lender} expired without an answer.`,
    sw: (p) => `Deni: ombi lako la mkopo wa ${formatKsh(p.amount)} kwa ${p.lender} limeisha muda bila jibu.`,
  },
  'deposit.received': {
    // The seed's wording, after the prefix every Deni SMS has.
    en: (p) =>
      p.deducted > 0
        ? `Deni: ${formatKsh(p.amount)} received. ${formatKsh(p.deducted)} deducted for loan. New balance: ${formatKsh(p.balance)}`
        : `Deni: ${formatKsh(p.amount)} received. New balance: ${formatKsh(p.balance)}`,
    sw: (p) =>
      p.deducted > 0
        ? `Deni: ${formatKsh(p.amount)} imepokelewa. ${formatKsh(p.deducted)} imekatwa kwa mkopo. Salio jipya: ${formatKsh(p.balance)}`
        : `Deni: ${formatKsh(p.amount)} imepokelewa. Salio jipya: ${formatKsh(p.balance)}`,
  },
  'loan.repayment_received': {
    en: (p) =>
      `Deni: ${formatKsh(p.amount)} received from ${p.borrower} for your loan. Still owed: ${formatKsh(p.outstanding)}`,
    sw: (p) =>
      `Deni: ${formatKsh(p.amount)} imepokelewa kutoka ${p.borrower} kwa mkopo wako. Deni lililobaki: ${formatKsh(p.outstanding)}`,
  },
  'loan.repaid_borrower': {
    en: (p) => `Deni: your loan of ${formatKsh(p.principal)} from ${p.lender} is fully repaid. Well done!`,
    sw: (p) => `Deni: mkopo wako wa ${formatKsh(p.principal)} kutoka ${p.lender} umelipwa wote. Hongera!`,
  },
  'loan.repaid_lender': {
    en: (p) => `Deni: ${p.borrower} has fully repaid your loan of ${formatKsh(p.principal)}.`,
    sw: (p) => `Deni: ${p.borrower} amelipa mkopo wako wote wa ${formatKsh(p.principal)}.`,
  },
  'mpesa.topup_failed': {
    en: (p) =>
      `Deni: your top-up of ${formatKsh(p.amount)} did not go through: ${stkFailure(p.code, 'en')}. Nothing was taken.`,
    sw: (p) =>
      `Deni: kuongeza ${formatKsh(p.amount)} hakukufanikiwa: ${stkFailure(p.code, 'sw')}. Hakuna kilichokatwa.`,
  },
  'mpesa.withdrawal_sent': {
    en: (p) => `Deni: ${formatKsh(p.amount)} was sent to your M-PESA.${p.receipt ? ` Ref ${p.receipt}.` : ''}`,
    sw: (p) => `Deni: ${formatKsh(p.amount)} imetumwa kwa M-PESA yako.${p.receipt ? ` Kumb ${p.receipt}.` : ''}`,
  },
  'mpesa.withdrawal_failed': {
    en: (p) => `Deni: your withdrawal of ${formatKsh(p.amount)} did not go through. The money is back in your wallet.`,
    sw: (p) => `Deni: kutoa ${formatKsh(p.amount)} hakukufanikiwa. Pesa imerudi kwenye pochi yako.`,
  },
  'mpesa.withdrawal_unconfirmed': {
    // The last resort (MPESA_RECONCILE_MAX_AGE_MS): M-PESA never said how the withdrawal ended, so
    // the money was given back without knowing whether it was paid. Not "did not go through".
    en: (p) =>
      `Deni: M-PESA did not confirm your ${formatKsh(p.amount)} withdrawal. The money is back in your Deni wallet. If M-PESA did pay you, we will correct it. Help: customer care.`,
    sw: (p) =>
      `Deni: M-PESA haikuthibitisha kutoa ${formatKsh(p.amount)}. Pesa imerudi kwenye pochi yako ya Deni. Kama M-PESA ilikulipa, tutarekebisha. Msaada: huduma kwa wateja.`,
  },
  'offline.applied': {
    // A withdrawal is only handed to M-PESA here; its own SMS says when the money is paid out.
    en: (p) =>
      p.action === 'WITHDRAWAL'
        ? `Deni: your withdrawal (ref ${p.reference}) is on its way to M-PESA.`
        : `Deni: your ${action(p.action, 'en')} (ref ${p.reference}) is done.`,
    sw: (p) =>
      p.action === 'WITHDRAWAL'
        ? `Deni: kutoa pesa kwako (kumb ${p.reference}) kunatumwa kwa M-PESA.`
        : `Deni: ${action(p.action, 'sw')} lako (kumb ${p.reference}) limekamilika.`,
  },
  'offline.rejected': {
    en: (p) => `Deni: your ${action(p.action, 'en')} (ref ${p.reference}) was not done: ${refusal(p.code, 'en')}.`,
    sw: (p) => `Deni: ${action(p.action, 'sw')} lako (kumb ${p.reference}) halikufanyika: ${refusal(p.code, 'sw')}.`,
  },
  'offline.expired': {
    en: (p) =>
      `Deni: we could not complete your ${action(p.action, 'en')} (ref ${p.reference}) in time. Nothing was done; please try again.`,
    sw: (p) =>
      `Deni: hatukuweza kukamilisha ${action(p.action, 'sw')} lako (kumb ${p.reference}) kwa wakati. Hakuna kilichofanyika; jaribu tena.`,
  },
};

export const TEMPLATE_NAMES = Object.keys(TEMPLATES) as TemplateName[];

/** Templates whose text carries a secret (a one-time code): never shown or kept longer than needed. */
const SECRET_TEMPLATES: ReadonlySet<string> = new Set<TemplateName>(['auth.otp']);

export function carriesSecret(template: string): boolean {
  return SECRET_TEMPLATES.has(template);
}

/** The text with its digit runs masked, for secret templates. */
export function maskSecret(body: string): string {
  return body.replace(/\d{4,}/g, (digits) => '*'.repeat(digits.length));
}

export function renderTemplate<T extends TemplateName>(name: T, language: Language, params: TemplateParams[T]): string {
  const byLanguage = TEMPLATES[name] as Record<Language, (p: TemplateParams[T]) => string>;
  return (byLanguage[language] ?? byLanguage.en)(params);
}
