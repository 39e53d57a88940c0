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
    // The loans' money: approval (the disbursement, LoanDecisionsService.approve), deposits with
    // allocation and repayments (RepaymentsService, with applyRepayment, replayedDeposit and
    // activeLoansOf), and lockLoan, which both lock the loan with. The other decisions change only
    // a status by the rules of loan-state.ts, and requests and the read side move no money: they
    // are left out so that the run stays within half an hour on two cores
    // (docs/testing.md#mutation-testing).
    'src/loans/loan-decisions.service.ts:30-65',
    'src/loans/repayments.service.ts:62-251',
    'src/loans/loan-rows.ts:8-17',
    // M-PESA's settlement paths: PaybillService.creditC2b (a confirmed paybill payment credited) and
    // WithdrawalService.closeB2c (a withdrawal settled or released).
    'src/mpesa/paybill.service.ts:200-204',
    'src/mpesa/withdrawal.service.ts:312-365',
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
  // Later runs retest only the mutants whose code or tests changed.
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  thresholds: { high: 90, low: 80, break: 80 },
};
