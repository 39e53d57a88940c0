import fc from 'fast-check';
import { isDomainError } from '../common/domain-error.js';
import {
  canTransition,
  fromStatuses,
  initialStatus,
  isOpenStatus,
  isTerminal,
  nextStatus,
  PAYMENT_EVENTS,
  PAYMENT_KINDS,
  PAYMENT_ORIGINS,
  PAYMENT_STATUSES,
  transition,
  type PaymentEvent,
  type PaymentKind,
  type PaymentOrigin,
  type PaymentStatus,
} from './payment-state.js';

// Written from docs/mpesa.md and docs/money.md, not from the table.
const ALLOWED: [PaymentKind, PaymentStatus, PaymentEvent, PaymentStatus][] = [
  // Top-ups: the push is recorded, Daraja takes it (pending) or refuses it (failed, no prompt).
  ['stk', 'requested', 'accepted', 'pending'],
  ['stk', 'requested', 'refused', 'failed'],
  // Paid only on Daraja's STK query; a failure is recorded and the user told.
  ['stk', 'pending', 'paid', 'succeeded'],
  ['stk', 'pending', 'failed', 'failed'],
  // "A success that comes after a failure was recorded ... paid, the payment becomes succeeded".
  ['stk', 'failed', 'paid', 'succeeded'],
  // Paybill: recorded pending until credited.
  ['c2b', 'pending', 'paid', 'succeeded'],
  // Withdrawals: acknowledged (or a re-send refused as a duplicate, or no answer, or no more
  // re-sends past the maximum age, or a result that disagrees): pending, the money held.
  ['b2c', 'requested', 'acknowledged', 'pending'],
  ['b2c', 'pending', 'acknowledged', 'pending'],
  ['b2c', 'requested', 'acknowledged_as_duplicate', 'pending'],
  ['b2c', 'requested', 'outcome_unknown', 'pending'],
  ['b2c', 'requested', 'resend_stopped', 'pending'],
  ['b2c', 'requested', 'result_disagrees', 'pending'],
  ['b2c', 'pending', 'result_disagrees', 'pending'],
  // One outcome ends the hold: settled (paid) or released, whether or not it was acknowledged.
  ['b2c', 'requested', 'paid', 'succeeded'],
  ['b2c', 'pending', 'paid', 'succeeded'],
  ['b2c', 'requested', 'released', 'failed'],
  ['b2c', 'pending', 'released', 'failed'],
  // An operator's /resolve ends a withdrawal still pending.
  ['b2c', 'pending', 'resolved_as_paid', 'succeeded'],
  ['b2c', 'pending', 'resolved_as_not_paid', 'failed'],
];

const allowed = (kind: PaymentKind, from: PaymentStatus, event: PaymentEvent) =>
  ALLOWED.find(([k, f, e]) => k === kind && f === from && e === event);

function refusal(run: () => unknown): { code: string; kind: string; details: unknown } | null {
  try {
    run();
  } catch (e) {
    if (isDomainError(e)) return { code: e.code, kind: e.kind, details: e.details };
    throw e;
  }
  return null;
}

describe('M-PESA payment lifecycle', () => {
  it.each(ALLOWED)('%s: %s --%s--> %s', (kind, from, event, to) => {
    expect(canTransition(kind, from, event)).toBe(true);
    expect(nextStatus(kind, from, event)).toBe(to);
  });

  it('refuses every other transition with a stable code, saying what was refused', () => {
    let refused = 0;
    for (const kind of PAYMENT_KINDS) {
      for (const from of PAYMENT_STATUSES) {
        for (const event of PAYMENT_EVENTS) {
          if (allowed(kind, from, event)) continue;
          expect(canTransition(kind, from, event)).toBe(false);
          expect(refusal(() => nextStatus(kind, from, event))).toEqual({
            code: 'MPESA.TRANSITION_NOT_ALLOWED',
            kind: 'conflict',
            details: { kind, status: from, event },
          });
          refused += 1;
        }
      }
    }
    expect(refused).toBe(PAYMENT_KINDS.length * PAYMENT_STATUSES.length * PAYMENT_EVENTS.length - ALLOWED.length);
  });

  it('gives the "from" statuses of each conditional update', () => {
    const expected: [PaymentKind, PaymentEvent, PaymentStatus[], PaymentStatus][] = [
      ['stk', 'accepted', ['requested'], 'pending'],
      ['stk', 'refused', ['requested'], 'failed'],
      ['stk', 'paid', ['pending', 'failed'], 'succeeded'],
      ['stk', 'failed', ['pending'], 'failed'],
      ['c2b', 'paid', ['pending'], 'succeeded'],
      ['b2c', 'acknowledged', ['requested', 'pending'], 'pending'],
      ['b2c', 'acknowledged_as_duplicate', ['requested'], 'pending'],
      ['b2c', 'outcome_unknown', ['requested'], 'pending'],
      ['b2c', 'resend_stopped', ['requested'], 'pending'],
      ['b2c', 'result_disagrees', ['requested', 'pending'], 'pending'],
      ['b2c', 'paid', ['requested', 'pending'], 'succeeded'],
      ['b2c', 'released', ['requested', 'pending'], 'failed'],
      ['b2c', 'resolved_as_paid', ['pending'], 'succeeded'],
      ['b2c', 'resolved_as_not_paid', ['pending'], 'failed'],
    ];
    for (const [kind, event, from, to] of expected) {
      expect([kind, event, fromStatuses(kind, event)]).toEqual([kind, event, from]);
      expect([kind, event, transition(kind, event)]).toEqual([kind, event, { from, to }]);
    }
    // Every other event of a kind has no "from" at all: asking for its update is a domain error.
    for (const kind of PAYMENT_KINDS) {
      for (const event of PAYMENT_EVENTS) {
        if (expected.some(([k, e]) => k === kind && e === event)) continue;
        expect([kind, event, fromStatuses(kind, event)]).toEqual([kind, event, []]);
        expect(refusal(() => transition(kind, event))).toEqual({
          code: 'MPESA.TRANSITION_NOT_ALLOWED',
          kind: 'conflict',
          details: { kind, status: null, event },
        });
      }
    }
  });

  it('leads each event to one status whatever it starts from, so that one conditional update says it all', () => {
    for (const kind of PAYMENT_KINDS) {
      for (const event of PAYMENT_EVENTS) {
        const targets = new Set(fromStatuses(kind, event).map((from) => nextStatus(kind, from, event)));
        expect(targets.size).toBeLessThanOrEqual(1);
      }
    }
  });

  it('records a payment with the status its origin gives, and refuses an origin its kind never has', () => {
    const origins: [PaymentKind, PaymentOrigin, PaymentStatus][] = [
      ['stk', 'request', 'requested'],
      // A paid STK callback for a request Deni has no record of: kept for an operator.
      ['stk', 'unrecognised', 'unmatched'],
      // A paybill confirmation for a user is recorded pending until credited; for nobody, unmatched.
      ['c2b', 'confirmation', 'pending'],
      ['c2b', 'unrecognised', 'unmatched'],
      ['b2c', 'request', 'requested'],
    ];
    for (const kind of PAYMENT_KINDS) {
      for (const origin of PAYMENT_ORIGINS) {
        const found = origins.find(([k, o]) => k === kind && o === origin);
        if (found) expect(initialStatus(kind, origin)).toBe(found[2]);
        else
          expect(refusal(() => initialStatus(kind, origin))).toEqual({
            code: 'MPESA.TRANSITION_NOT_ALLOWED',
            kind: 'conflict',
            details: { kind, status: null, event: origin },
          });
      }
    }
  });

  it('calls exactly the statuses with no way out terminal', () => {
    const terminal = (kind: PaymentKind) => PAYMENT_STATUSES.filter((s) => isTerminal(kind, s));
    // A failed top-up can still be found paid; paybill payments are never requested nor failed.
    expect(terminal('stk')).toEqual(['succeeded', 'unmatched']);
    expect(terminal('c2b')).toEqual(['requested', 'succeeded', 'failed', 'unmatched']);
    expect(terminal('b2c')).toEqual(['succeeded', 'failed', 'unmatched']);
  });

  it('never moves money for nobody, and lets only an operator end a withdrawal still pending', () => {
    for (const kind of PAYMENT_KINDS) {
      for (const event of PAYMENT_EVENTS) expect(canTransition(kind, 'unmatched', event)).toBe(false);
      for (const from of PAYMENT_STATUSES) {
        const operator =
          canTransition(kind, from, 'resolved_as_paid') || canTransition(kind, from, 'resolved_as_not_paid');
        expect([kind, from, operator]).toEqual([kind, from, kind === 'b2c' && from === 'pending']);
      }
    }
  });

  it('flags rather than applies what comes after a withdrawal ended: its outcome never changes', () => {
    for (const from of ['succeeded', 'failed'] as const) {
      for (const event of PAYMENT_EVENTS) expect(canTransition('b2c', from, event)).toBe(false);
    }
    // A credited top-up or paybill payment is never failed or credited again.
    for (const event of PAYMENT_EVENTS) {
      expect(canTransition('stk', 'succeeded', event)).toBe(false);
      expect(canTransition('c2b', 'succeeded', event)).toBe(false);
    }
  });

  it('any sequence of events keeps a payment on the documented paths, and money moves at most once', () => {
    const reachable: Record<PaymentKind, PaymentStatus[]> = {
      stk: ['requested', 'pending', 'succeeded', 'failed', 'unmatched'],
      c2b: ['pending', 'succeeded', 'unmatched'],
      b2c: ['requested', 'pending', 'succeeded', 'failed'],
    };
    const starts: [PaymentKind, PaymentOrigin][] = [
      ['stk', 'request'],
      ['stk', 'unrecognised'],
      ['c2b', 'confirmation'],
      ['c2b', 'unrecognised'],
      ['b2c', 'request'],
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...starts),
        fc.array(fc.constantFrom(...PAYMENT_EVENTS), { maxLength: 25 }),
        ([kind, origin], events) => {
          let status = initialStatus(kind, origin);
          const outcomes: PaymentStatus[] = [];
          for (const event of events) {
            const before = status;
            if (canTransition(kind, status, event)) status = nextStatus(kind, status, event);
            else expect(() => nextStatus(kind, status, event)).toThrow();
            expect(reachable[kind]).toContain(status);
            if (isTerminal(kind, before)) expect(status).toBe(before);
            if (status !== before && (status === 'succeeded' || status === 'failed')) outcomes.push(status);
          }
          // A withdrawal's hold is settled or released once; a top-up may fail then be paid, once.
          if (kind === 'b2c') expect(outcomes.length).toBeLessThanOrEqual(1);
          expect(outcomes.filter((s) => s === 'succeeded').length).toBeLessThanOrEqual(1);
          if (outcomes.includes('succeeded')) expect(outcomes[outcomes.length - 1]).toBe('succeeded');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('calls a payment open while it awaits its outcome: requested or pending, as a withdrawal whose money is held', () => {
    expect(PAYMENT_STATUSES.filter(isOpenStatus)).toEqual(['requested', 'pending']);
    // A withdrawal is open exactly while some answer can still end it.
    for (const status of PAYMENT_STATUSES.filter((s) => s !== 'unmatched'))
      expect(isOpenStatus(status)).toBe(!isTerminal('b2c', status));
  });
});
