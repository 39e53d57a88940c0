import base from './jest.config.js';

/**
 * The focused tests the mutation run (stryker.config.js) uses: the unit specs of the loan rules and
 * the money-core integration test. Each runs in seconds, and Stryker runs each mutant against only
 * the tests that cover it. The run's database and key prefix come from scripts/mutation.ts, once for
 * the whole run, so there is no global setup here.
 * @type {import('jest').Config}
 */
export default {
  ...base,
  testMatch: ['**/src/loans/allocation.spec.ts', '**/src/loans/loan-state.spec.ts', '**/test/money-core.test.ts'],
  // One database for the whole mutation run (scripts/mutation.ts), not a copy per file.
  testEnvironment: 'node',
  globalSetup: undefined,
  globalTeardown: undefined,
};
