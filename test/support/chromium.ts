import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian's chromium, driven through playwright-core (which brings no browser of its own). */
export const CHROMIUM = '/usr/bin/chromium';

function run(command: string, args: string[]): string | undefined {
  try {
    execFileSync(command, args, {
      stdio: 'pipe',
      timeout: 10 * 60_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return undefined;
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    return (err.stderr?.toString().trim().split('\n').slice(-3).join(' / ') || err.message).slice(0, 500);
  }
}

/**
 * Makes sure /usr/bin/chromium exists, installing Debian's `chromium` package with apt-get when it
 * does not (as root; `apt-get update` first if the package lists are stale). Throws a clear error
 * when that is impossible. Takes a minute or two the first time, nothing afterwards.
 */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const howTo = 'Install it with `sudo apt-get install -y chromium` (Debian/Ubuntu) and run the test again.';
  if (process.platform !== 'linux' || typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error(`${CHROMIUM} is missing and this test can only install it as root on Debian. ${howTo}`);
  }
  let problem = run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium']);
  if (problem || !existsSync(CHROMIUM)) {
    const update = run('apt-get', ['update']);
    problem = update ?? run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium']);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing and \`apt-get install -y chromium\` did not provide it (${problem ?? 'no error, but no binary'}). ${howTo}`,
    );
  }
  return CHROMIUM;
}
