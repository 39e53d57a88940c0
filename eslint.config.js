// ESLint: typescript-eslint's type-checked recommended rules on every TypeScript file of the
// project (service, tests, scripts, benchmark). Formatting is Prettier's job (npm run format:check).
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

const SIMULATORS_APART =
  'the simulators run in their own process (src/simulators/main.ts); reach them over HTTP (MPESA_BASE_URL, AT_BASE_URL)';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', '.data/', 'node_modules/', 'src/simulator/public/', 'test/artifacts/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A leading underscore marks a parameter or binding kept on purpose (an interface's signature).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
    },
  },
  {
    // The simulators are a process of their own (npm run simulators), as the providers are:
    // the service's code never loads them (src/simulators/; tests and specs may).
    files: ['src/**/*.ts'],
    ignores: ['src/simulators/**', 'src/simulator/**', 'src/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)simulators/', message: SIMULATORS_APART }] }],
    },
  },
  {
    // The dev-only phone page drives the simulators over HTTP; it shares only their outcome lists.
    files: ['src/simulator/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ regex: '(^|/)simulators/(?!daraja/outcomes\\.js$)', message: SIMULATORS_APART }],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // CommonJS configuration files (dependency-cruiser reads .cjs).
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  // Mutation testing's reports and sandbox (npm run test:mutation).
  { ignores: ['reports/', '.stryker-tmp/'] },
);
