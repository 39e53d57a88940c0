/**
 * One suite: unit specs beside the code (src/**\/*.spec.ts) and integration tests against real
 * PostgreSQL and Redis (test/**\/*.test.ts). The global setup gives the run its own migrated
 * template database and Redis key prefix (starting local servers when none answer), each test file
 * gets a copy of the template, and the global teardown removes them all.
 * @type {import('jest').Config}
 */
export default {
  // Node's, plus a database of each test file's own (a copy of the run's migrated template).
  testEnvironment: '<rootDir>/test/support/database-environment.js',
  // With --randomize, the files too run in an order the seed decides (and --seed=<n> replays).
  testSequencer: '<rootDir>/test/support/random-sequencer.js',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.test.ts'],
  // ts-jest only transpiles: `npm test` type-checks the whole project with tsc before the suite
  // (one check instead of one per worker), so a type error still fails the run.
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', useESM: true, diagnostics: false }],
  },
  extensionsToTreatAsEsm: ['.ts'],
  // Sources import './x.js' (Node ESM); Jest resolves them to the .ts files.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  moduleFileExtensions: ['ts', 'js', 'json'],
  globalSetup: '<rootDir>/test/support/global-setup.js',
  globalTeardown: '<rootDir>/test/support/global-teardown.js',
  setupFiles: ['reflect-metadata'],
  testTimeout: 30_000,
  maxWorkers: 2,
  verbose: false,
};
