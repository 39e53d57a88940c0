import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { cyclesOf, moduleGraph } from '../scripts/architecture.js';

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
    expect(steps).toEqual([
      'npm run typecheck',
      'npm run lint',
      'npm run lint:deps',
      'npm run format:check',
      'npm run test:only',
    ]);
    expect(scripts['lint:deps']).toBe('tsx scripts/architecture.ts --check');
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

describe('the dependency rules (.dependency-cruiser.cjs)', () => {
  /** Runs the project's rules on a small tree of files, as `npm run lint:deps` runs them on src. */
  function violations(files: Record<string, string>): string[] {
    const dir = mkdtempSync(join(tmpdir(), 'deni-deps-'));
    try {
      writeFileSync(join(dir, 'tsconfig.json'), readFileSync(new URL('tsconfig.json', root)));
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(join(dir, dirname(path)), { recursive: true });
        writeFileSync(join(dir, path), text);
      }
      const run = spawnSync(
        process.execPath,
        [
          fileURLToPath(new URL('node_modules/dependency-cruiser/bin/dependency-cruise.mjs', root)),
          'src',
          '--config',
          fileURLToPath(new URL('.dependency-cruiser.cjs', root)),
          '--output-type',
          'json',
        ],
        { cwd: dir, encoding: 'utf8' },
      );
      const result = JSON.parse(run.stdout) as { summary: { violations: { rule: { name: string }; from: string }[] } };
      return result.summary.violations.map((v) => `${v.rule.name} ${v.from}`).sort();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('refuses each forbidden arrow of the design, and accepts the allowed ones', () => {
    expect(
      violations({
        'src/wallet/ledger.service.ts': "import { a } from '../loans/loans.service.js';\nexport const b = a;\n",
        'src/loans/loans.service.ts': "import { b } from '../wallet/ledger.service.js';\nexport const a = b;\n",
        'src/wallet/wallet.service.ts': 'export const w = 1;\n',
        'src/notifications/templates.ts': "import { u } from '../users/users.service.js';\nexport const t = u;\n",
        'src/users/users.service.ts':
          "import { n } from '../notifications/notifications.service.js';\nexport const u = n;\n",
        'src/notifications/notifications.service.ts': 'export const n = 1;\n',
        'src/database/schema.ts': "import { a } from '../loans/loans.service.js';\nexport const s = a;\n",
        'src/mpesa/mpesa.module.ts': "import { d } from '../simulators/daraja/stk.js';\nexport const m = d;\n",
        'src/simulators/daraja/stk.ts':
          "import { c } from '../../mpesa/mpesa-callbacks.controller.js';\nexport const d = c;\n",
        'src/mpesa/mpesa-callbacks.controller.ts': 'export const c = 1;\n',
        'src/ussd/ussd.controller.ts':
          "import { c } from '../mpesa/mpesa-callbacks.controller.js';\nexport const x = c;\n",
        'src/sync/sync.service.ts': "import { x } from '../ussd/ussd.controller.js';\nexport const y = x;\n",
      }),
    ).toEqual([
      'controllers-are-not-shared src/simulators/daraja/stk.ts',
      'controllers-are-not-shared src/sync/sync.service.ts',
      'controllers-are-not-shared src/ussd/ussd.controller.ts',
      'infrastructure-knows-no-feature src/database/schema.ts',
      // A cycle is reported once, from the first of its files.
      'no-cycles src/loans/loans.service.ts',
      'no-simulator-in-production src/mpesa/mpesa.module.ts',
      'notifications-is-a-sink src/notifications/templates.ts',
      'sync-below-ussd src/sync/sync.service.ts',
      'wallet-at-the-bottom src/wallet/ledger.service.ts',
    ]);
  });

  it('finds cycles between module folders that no file-level cycle shows', () => {
    const graph = moduleGraph({
      modules: [
        { source: 'src/common/filter.ts', dependencies: [{ resolved: 'src/database/availability.ts' }] },
        { source: 'src/database/availability.ts', dependencies: [{ resolved: 'src/config/app-config.ts' }] },
        { source: 'src/config/app-config.ts', dependencies: [{ resolved: 'src/common/errors.ts' }] },
        { source: 'src/main.ts', dependencies: [{ resolved: 'src/config/app-config.ts' }] },
      ],
      summary: { error: 0, violations: [] },
    });
    // Found from the composition root, which reaches config first.
    expect(cyclesOf(graph)).toEqual([['config', 'common', 'database', 'config']]);
    graph.set('config', []);
    expect(cyclesOf(graph)).toEqual([]);
  });
});
