import { Logger } from '@nestjs/common';
import { SubscriberChanges } from './subscriber-changes.js';

/** A promise settled from outside, to hold a listener until the test lets it go. */
function deferred() {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe(SubscriberChanges.name, () => {
  it('tells every listener at once, and resolves only once all of them are done', async () => {
    const changes = new SubscriberChanges();
    const first = deferred();
    const second = deferred();
    const told: string[][] = [];
    changes.listen(async (ids) => {
      told.push([...ids]);
      await first.promise;
    });
    changes.listen(async (ids) => {
      told.push([...ids]);
      await second.promise;
    });

    let done = false;
    const call = changes.changed(['borrower', 'lender']).then(() => (done = true));
    await Promise.resolve();
    expect(told).toEqual([
      ['borrower', 'lender'],
      ['borrower', 'lender'],
    ]);
    first.resolve();
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    second.resolve();
    await call;
    expect(done).toBe(true);
  });

  it('never fails the write: a listener that fails is logged, and the others are still waited for', async () => {
    const warnings: unknown[][] = [];
    Logger.overrideLogger({ log: () => undefined, error: () => undefined, warn: (...args) => warnings.push(args) });
    const changes = new SubscriberChanges();
    const slow = deferred();
    let slowDone = false;
    changes.listen(() => Promise.reject(new Error('Connection is closed.')));
    changes.listen(async () => {
      await slow.promise;
      slowDone = true;
    });
    const call = changes.changed(['someone']);
    slow.resolve();
    await expect(call).resolves.toBeUndefined();
    expect(slowDone).toBe(true);
    expect(warnings).toHaveLength(1);
    Logger.overrideLogger(false);
  });

  it('tells each subscriber once, nothing for nobody, and nothing after unlistening', async () => {
    const changes = new SubscriberChanges();
    const told: string[][] = [];
    const unlisten = changes.listen((ids) => {
      told.push([...ids]);
      return Promise.resolve();
    });
    await changes.changed(['a', 'b', 'a']);
    await changes.changed([]);
    unlisten();
    await changes.changed(['c']);
    expect(told).toEqual([['a', 'b']]);
  });
});
