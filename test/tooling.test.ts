import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

/**
 * The one command a newcomer runs and CI calls (`npm test`) must check types, lint and format
 * before the suite: a type error or a lint finding has to fail CI, not land green.
 */
const root = new URL('../', import.meta.url);
const scripts = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> })
  .scripts;

describe('npm test', () => {
  it('runs the type check, ESLint and the Prettier check, then the suite, stopping at the first failure', () => {
    const steps = scripts.test.split('&&').map((s) => s.trim());
    expect(steps).toEqual(['npm run typecheck', 'npm run lint', 'npm run format:check', 'npm run test:only']);
    expect(scripts.typecheck).toMatch(/^tsc --noEmit\b/);
    expect(scripts.lint).toMatch(/^eslint \.$/);
    expect(scripts['format:check']).toMatch(/^prettier --check \.$/);
    // In a random order whose seed is printed (and replayed with --seed): tests may not depend on it.
    expect(scripts['test:only']).toMatch(/\bjest --randomize --showSeed$/);
  });

  it('is what CI runs, after a clean install', () => {
    const commands = readFileSync(new URL('.ci/run', root), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#') && !line.startsWith('set ') && !line.startsWith('cd '));
    expect(commands).toEqual(['npm ci', 'npm test']);
  });

  it('lints the service with typescript-eslint type-checked rules, not only syntax', async () => {
    const eslint = new ESLint({ cwd: fileURLToPath(root) });
    const config = (await eslint.calculateConfigForFile('src/main.ts')) as {
      rules: Record<string, unknown[]>;
      languageOptions: { parserOptions?: Record<string, unknown> };
    };
    const severity = (rule: string) => config.rules[rule]?.[0];
    expect(severity('@typescript-eslint/no-floating-promises')).toBe(2);
    expect(severity('@typescript-eslint/no-unsafe-member-access')).toBe(2);
    expect(config.languageOptions.parserOptions?.projectService).toBe(true);
  });
});
