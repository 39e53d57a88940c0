import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const execFileAsync = promisify(execFile);

export interface Build {
  /** `main.js` of the build: `node <main>` runs Deni as `npm run start:prod` runs dist/main.js. */
  main: string;
  remove(): Promise<void>;
}

/**
 * Deni compiled as production runs it (tsc with tsconfig.build.json, decorator metadata and all),
 * into a directory of its own under .data/ (inside the project, so that node_modules resolve),
 * never over dist/. The simulator page's static files are not copied: start it with
 * SIMULATOR_ENABLED=false.
 */
export async function buildDeni(): Promise<Build> {
  const outDir = join(ROOT, '.data', 'test-builds', randomBytes(6).toString('hex'));
  await execFileAsync(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      outDir,
      '--sourceMap',
      'false',
    ],
    { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
  );
  return { main: join(outDir, 'main.js'), remove: () => rm(outDir, { recursive: true, force: true }) };
}
