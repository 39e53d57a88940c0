// ESLint: typescript-eslint's type-checked recommended rules on every TypeScript file of the
// project (service, tests, scripts, benchmark). Formatting is Prettier's job (npm run format:check).
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

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
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  // Mutation testing's reports and sandbox (npm run test:mutation).
  { ignores: ['reports/', '.stryker-tmp/'] },
);
