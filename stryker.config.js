/**
 * Mutation testing of the money core (`npm run test:mutation`, docs/testing.md#mutation-testing):
 * the ledger and wallet, the loan lifecycle, allocation and deposits, and the M-PESA code that
 * credits a confirmed payment or settles or releases a withdrawal. Each mutant runs only the tests
 * that cover it, from the focused set in jest.mutation.config.js.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'jest',
  jest: { configFile: 'jest.mutation.config.js', enableFindRelatedTests: false },
  mutate: [
    'src/wallet/ledger.service.ts',
    'src/wallet/wallet.service.ts',
    'src/loans/allocation.ts',
    'src/loans/loan-state.ts',
    // The service's writes and their internals; its read side (queries: getForParty, listForUser,
    // pendingForLender, summary) moves no money and is left out to keep the run short.
    'src/loans/loans.service.ts:1-411',
    'src/loans/loans.service.ts:489-638',
    // M-PESA's settlement paths: creditC2b (a confirmed paybill payment credited) and closeB2c (a
    // withdrawal settled or released).
    'src/mpesa/mpesa.service.ts:835-839',
    'src/mpesa/mpesa.service.ts:1175-1233',
  ],
  coverageAnalysis: 'perTest',
  // Mutants in module-level constants would need every test for each of them.
  ignoreStatic: true,
  concurrency: 2,
  checkers: [],
  timeoutMS: 60_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  thresholds: { high: 90, low: 80, break: 80 },
};
