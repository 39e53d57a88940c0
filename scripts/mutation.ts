import { spawn } from 'node:child_process';
import { setUpRun, tearDownRun } from '../test/support/run-lifecycle.js';

/**
 * `npm run test:mutation`: Stryker over the money core (stryker.config.js). The test run's
 * database and Redis key prefix are made once here, as Jest's global setup would, and inherited
 * by every Stryker worker; Stryker's own runs skip the global setup (jest.mutation.config.js), so
 * a mutant costs its tests, not a database. Arguments go to `stryker run`.
 */
function stryker(args: string[]): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const child = spawn('npx', ['stryker', 'run', ...args], {
      stdio: 'inherit',
      env: {
        ...process.env,
        DENI_MUTATION: '1',
        NODE_OPTIONS:
          `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules --no-warnings=ExperimentalWarning`.trim(),
      },
    });
    child.on('error', reject);
    child.on('exit', (status, signal) => resolve(status ?? (signal ? 1 : 0)));
  });
}

await setUpRun();
const code = await stryker(process.argv.slice(2)).finally(() => tearDownRun());
process.exit(code);
