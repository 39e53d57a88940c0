import fc from 'fast-check';
import { offlineBackoff } from './offline-queue.processor.js';

describe(offlineBackoff.name, () => {
  it('doubles from the first delay, never passes the ceiling, with ±20% jitter', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 100, max: 600_000 }),
        fc.integer({ min: 1_000, max: 86_400_000 }),
        (attempt, first, max) => {
          const expected = Math.min(max, first * 2 ** (attempt - 1));
          const delay = offlineBackoff(attempt, { data: { firstDelayMs: first, maxDelayMs: max } });
          return Number.isFinite(delay) && delay >= Math.floor(expected * 0.8) && delay <= Math.ceil(expected * 1.2);
        },
      ),
    );
  });

  it('spans 24 hours in a bounded number of attempts with the defaults', () => {
    let elapsed = 0;
    let attempts = 0;
    while (elapsed < 24 * 3_600_000)
      elapsed += offlineBackoff(++attempts, { data: { firstDelayMs: 5_000, maxDelayMs: 1_800_000 } });
    // 5 s doubling to the 30 min ceiling, then every ~30 min: about 60 attempts, not thousands.
    expect(attempts).toBeGreaterThan(40);
    expect(attempts).toBeLessThan(80);
  });
});
