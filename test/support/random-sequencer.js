import Sequencer from '@jest/test-sequencer';

/**
 * With `--randomize`, the test files run in an order shuffled by Jest's seed (the one
 * `--showSeed` prints), so the order of files can be replayed with `--seed=<n>` as the order of
 * tests inside them is. Without it, Jest's usual order (failed first, then slowest first).
 */
export default class RandomSequencer extends Sequencer {
  constructor(options) {
    super(options);
    this.globalConfig = options.globalConfig;
  }

  sort(tests) {
    if (!this.globalConfig?.randomize) return super.sort(tests);
    // Sorted by path first, so the shuffle depends on the seed alone, not on how Jest found them.
    const order = [...tests].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const next = mulberry32(this.globalConfig.seed);
    for (let i = order.length - 1; i > 0; i -= 1) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    return order;
  }
}

/** A small seeded generator of numbers in [0, 1). */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
