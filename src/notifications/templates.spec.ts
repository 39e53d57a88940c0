import { IN_DOUBT_POLICY, inDoubtPolicy, RESENT_IN_DOUBT } from './in-doubt-policy.js';
import { carriesSecret, maskSecret, renderTemplate, TEMPLATE_NAMES, type TemplateParams } from './templates.js';

// GSM 03.38 basic character set (plus the extension table's common symbols).
const GSM7 = /^[A-Za-z0-9 @£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!"#¤%&'()*+,\-./:;<=>?¡ÄÖÑÜ§¿äöñüà^{}\\[~\]|€]*$/;

/** The longest values: six-digit amounts, numbers as formatLocal writes them (0712 345 678). */
const SAMPLE: { [T in keyof TemplateParams]: TemplateParams[T] } = {
  'pin.changed': {},
  'pin.locked': { minutes: 30 },
  'auth.otp': { code: '123456', minutes: 5 },
  'loan.requested': { borrower: '0712 345 678', amount: 250_000, repayment: 250_000 },
  'loan.approved': { lender: '0712 345 678', amount: 250_000, repayment: 250_000, balance: 99_999_999 },
  'loan.declined': { lender: '0712 345 678', amount: 250_000 },
  'loan.cancelled': { borrower: '0712 345 678', amount: 250_000 },
  'loan.expired': { lender: '0712 345 678', amount: 250_000 },
  'deposit.received': { amount: 250_000, deducted: 250_000, balance: 99_999_999 },
  'loan.repayment_received': { borrower: '0712 345 678', amount: 250_000, outstanding: 250_000 },
  'loan.repaid_borrower': { lender: '0712 345 678', principal: 250_000 },
  'loan.repaid_lender': { borrower: '0712 345 678', principal: 250_000 },
  'mpesa.topup_failed': { amount: 250_000, code: 1037 },
  'mpesa.withdrawal_sent': { amount: 250_000, receipt: 'NLJ7RT61SV' },
  'mpesa.withdrawal_failed': { amount: 250_000 },
  'mpesa.withdrawal_unconfirmed': { amount: 250_000 },
  'offline.applied': { reference: 'ABCDEFGHJK', action: 'LOAN_DECLINE' },
  'offline.rejected': { reference: 'ABCDEFGHJK', action: 'LOAN_DECLINE', code: 'LOAN.REPAYMENT_EXCEEDS_OUTSTANDING' },
  'offline.expired': { reference: 'ABCDEFGHJK', action: 'LOAN_DECLINE' },
};

describe('SMS templates', () => {
  it.each(TEMPLATE_NAMES.flatMap((t) => [[t, 'en'] as const, [t, 'sw'] as const]))(
    '%s in %s fits one GSM-7 SMS',
    (name, language) => {
      const text = renderTemplate(name, language, SAMPLE[name] as never);
      expect(text.length).toBeGreaterThan(10);
      expect(text.length).toBeLessThanOrEqual(160);
      expect(text).toMatch(GSM7);
      expect(text).not.toMatch(/undefined|\{|\}/);
    },
  );

  it.each(TEMPLATE_NAMES.flatMap((t) => [[t, 'en'] as const, [t, 'sw'] as const]))(
    '%s in %s says who it is from: it starts with "Deni: "',
    (name, language) => {
      expect(renderTemplate(name, language, SAMPLE[name] as never)).toMatch(/^Deni: \S/);
    },
  );

  it("uses the seed's deposit wording after the prefix", () => {
    expect(renderTemplate('deposit.received', 'en', { amount: 500, deducted: 100, balance: 400 })).toBe(
      'Deni: Ksh 500 received. Ksh 100 deducted for loan. New balance: Ksh 400',
    );
    expect(renderTemplate('deposit.received', 'en', { amount: 500, deducted: 0, balance: 400 })).toBe(
      'Deni: Ksh 500 received. New balance: Ksh 400',
    );
    for (const deducted of [0, 100]) {
      expect(renderTemplate('deposit.received', 'sw', { amount: 500, deducted, balance: 400 })).toMatch(
        /^Deni: Ksh 500 imepokelewa\. /,
      );
    }
  });

  it('masks the one-time code of secret templates, and only theirs', () => {
    const otp = renderTemplate('auth.otp', 'en', { code: '482913', minutes: 5 });
    expect(carriesSecret('auth.otp')).toBe(true);
    expect(carriesSecret('deposit.received')).toBe(false);
    expect(maskSecret(otp)).not.toContain('482913');
    expect(maskSecret(otp)).toContain('******');
    expect(maskSecret(otp)).toContain('5 minutes');
  });

  it('names every offline action and refusal in both languages, and falls back to the code', () => {
    for (const action of ['LOAN_REQUEST', 'LOAN_APPROVAL', 'LOAN_DECLINE', 'REPAYMENT', 'WITHDRAWAL'] as const) {
      for (const language of ['en', 'sw'] as const) {
        const text = renderTemplate('offline.rejected', language, {
          reference: 'R',
          action,
          code: 'WALLET.INSUFFICIENT_FUNDS',
        });
        expect(text).not.toContain(action);
        expect(text).not.toContain('WALLET.');
        expect(text.length).toBeLessThanOrEqual(160);
      }
    }
    expect(
      renderTemplate('offline.rejected', 'en', { reference: 'R', action: 'REPAYMENT', code: 'LOAN.SOMETHING_NEW' }),
    ).toContain('LOAN.SOMETHING_NEW');
  });

  it('tells a withdrawal given back with its outcome unknown that the money is back, not that it failed', () => {
    for (const language of ['en', 'sw'] as const) {
      const unconfirmed = renderTemplate('mpesa.withdrawal_unconfirmed', language, { amount: 500 });
      expect(unconfirmed).not.toBe(renderTemplate('mpesa.withdrawal_failed', language, { amount: 500 }));
      expect(unconfirmed).toContain('Ksh 500');
      expect(unconfirmed).toContain('M-PESA');
    }
    expect(renderTemplate('mpesa.withdrawal_unconfirmed', 'en', { amount: 500 })).toBe(
      'Deni: M-PESA did not confirm your Ksh 500 withdrawal. The money is back in your Deni wallet. If M-PESA did pay you, we will correct it. Help: customer care.',
    );
    expect(renderTemplate('mpesa.withdrawal_unconfirmed', 'en', { amount: 500 })).not.toMatch(
      /did not go through|failed/,
    );
  });

  it('differs between English and Kiswahili', () => {
    for (const name of TEMPLATE_NAMES) {
      expect(renderTemplate(name, 'en', SAMPLE[name] as never)).not.toBe(
        renderTemplate(name, 'sw', SAMPLE[name] as never),
      );
    }
  });
});

describe('the in-doubt policy of SMS templates', () => {
  it.each(TEMPLATE_NAMES)('%s: a text that states an amount of money is never sent twice blindly', (name) => {
    const shown = ['en', 'sw'].some((language) =>
      /Ksh \d/.test(renderTemplate(name, language as 'en' | 'sw', SAMPLE[name] as never)),
    );
    if (shown) expect(inDoubtPolicy(name)).toBe('never');
  });

  it('sends a one-time code again, since it is useless unless it arrives', () => {
    const secret = TEMPLATE_NAMES.filter((t) => carriesSecret(t));
    expect(secret).toContain('auth.otp');
    for (const name of secret) expect(inDoubtPolicy(name)).toBe('resend');
  });

  it('never sends again a template it does not know (a row older than the table)', () => {
    expect(inDoubtPolicy('loan.something_retired')).toBe('never');
  });

  it('lists for the relay exactly the templates whose policy is resend', () => {
    expect([...RESENT_IN_DOUBT].sort()).toEqual(TEMPLATE_NAMES.filter((t) => IN_DOUBT_POLICY[t] === 'resend').sort());
    expect(RESENT_IN_DOUBT).not.toContain('deposit.received');
  });
});
