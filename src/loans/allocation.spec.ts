import fc from 'fast-check';
import { allocate, allocationOrder, type AllocatableLoan } from './allocation.js';

/** The rule's order, written here rather than imported: oldest approval first, the id breaking ties. */
function oldestApprovalFirst(a: AllocatableLoan, b: AllocatableLoan): number {
  if (a.approvedAt.getTime() !== b.approvedAt.getTime()) return a.approvedAt < b.approvedAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

const loanArb = fc.record({
  id: fc.uuid(),
  repaymentPerDeposit: fc.integer({ min: 10, max: 250_000 }),
  outstanding: fc.integer({ min: 1, max: 250_000 }),
  approvedAt: fc.date({ min: new Date('2025-01-01'), max: new Date('2027-01-01'), noInvalidDate: true }),
});
const loansArb = fc.uniqueArray(loanArb, { selector: (l) => l.id, maxLength: 8 });
const depositArb = fc.integer({ min: 1, max: 1_000_000 });

describe(allocate.name, () => {
  it('follows the rule exactly: oldest first, x = min(r, outstanding, remaining)', () => {
    fc.assert(
      fc.property(depositArb, loansArb, (deposit, loans) => {
        const result = allocate(deposit, loans);
        // A straightforward model of the rule in docs/money.md#debt-allocation.
        let remaining = deposit;
        const expected: { loanId: string; amount: number }[] = [];
        for (const loan of [...loans].sort(oldestApprovalFirst)) {
          const x = Math.min(loan.repaymentPerDeposit, loan.outstanding, remaining);
          if (x > 0) expected.push({ loanId: loan.id, amount: x });
          remaining -= x;
        }
        expect(result).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('never takes more than the deposit, nor more than a loan owes or its rate', () => {
    fc.assert(
      fc.property(depositArb, loansArb, (deposit, loans) => {
        const result = allocate(deposit, loans);
        const total = result.reduce((s, a) => s + a.amount, 0);
        expect(total).toBeLessThanOrEqual(deposit);
        const byId = new Map(loans.map((l) => [l.id, l]));
        for (const a of result) {
          const loan = byId.get(a.loanId)!;
          expect(Number.isSafeInteger(a.amount)).toBe(true);
          expect(a.amount).toBeGreaterThan(0);
          expect(a.amount).toBeLessThanOrEqual(Math.min(loan.repaymentPerDeposit, loan.outstanding));
        }
        expect(new Set(result.map((a) => a.loanId)).size).toBe(result.length);
      }),
      { numRuns: 1000 },
    );
  });

  it('takes everything it may: a later loan is paid only when every earlier one got its full share', () => {
    fc.assert(
      fc.property(depositArb, loansArb, (deposit, loans) => {
        const result = allocate(deposit, loans);
        const total = result.reduce((s, a) => s + a.amount, 0);
        const capacity = loans.reduce((s, l) => s + Math.min(l.repaymentPerDeposit, l.outstanding), 0);
        expect(total).toBe(Math.min(deposit, capacity));
        const order = [...loans].sort(oldestApprovalFirst);
        const paid = new Map(result.map((a) => [a.loanId, a.amount]));
        order.forEach((loan, i) => {
          if (!paid.has(loan.id)) return;
          for (const earlier of order.slice(0, i)) {
            expect(paid.get(earlier.id)).toBe(Math.min(earlier.repaymentPerDeposit, earlier.outstanding));
          }
        });
      }),
      { numRuns: 1000 },
    );
  });

  it('does not depend on the order the loans are given in', () => {
    fc.assert(
      fc.property(depositArb, loansArb, fc.integer(), (deposit, loans, seed) => {
        const shuffled = [...loans].sort(
          (a, b) => ((a.id.charCodeAt(0) * seed) % 7) - ((b.id.charCodeAt(0) * seed) % 7),
        );
        expect(allocate(deposit, shuffled)).toEqual(allocate(deposit, loans));
      }),
    );
  });

  it('pays loans approved at the same instant in id order, whatever order they come in', () => {
    const at = new Date('2026-03-01T09:00:00Z');
    const loans: AllocatableLoan[] = [
      { id: 'c', repaymentPerDeposit: 100, outstanding: 1_000, approvedAt: at },
      { id: 'a', repaymentPerDeposit: 100, outstanding: 1_000, approvedAt: at },
      { id: 'b', repaymentPerDeposit: 100, outstanding: 1_000, approvedAt: at },
      { id: 'd', repaymentPerDeposit: 100, outstanding: 1_000, approvedAt: new Date('2026-02-28T09:00:00Z') },
    ];
    // d is the oldest approval; a, b and c tie, so the ids order them. 250 runs out in b.
    const expected = [
      { loanId: 'd', amount: 100 },
      { loanId: 'a', amount: 100 },
      { loanId: 'b', amount: 50 },
    ];
    expect(allocate(250, loans)).toEqual(expected);
    expect(allocate(250, [...loans].reverse())).toEqual(expected);
    expect(allocationOrder(loans[1], loans[1])).toBe(0);
  });

  it('allocates nothing without active loans', () => {
    expect(allocate(500, [])).toEqual([]);
  });

  it('repays a loan in as many deposits as its rate says', () => {
    const loan: AllocatableLoan = { id: 'a', repaymentPerDeposit: 300, outstanding: 1000, approvedAt: new Date() };
    const steps: number[] = [];
    while (loan.outstanding > 0) {
      const [a] = allocate(10_000, [loan]);
      steps.push(a.amount);
      loan.outstanding -= a.amount;
    }
    expect(steps).toEqual([300, 300, 300, 100]);
  });
});
