/**
 * The flags Deni's node runs with in production: those of `npm run start:prod` (`node <flags>
 * dist/main.js`), which the image (NODE_OPTIONS) and the compose file's default repeat, as
 * test/compose.test.ts checks. The bench measures the service with them.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function shippedNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const words = pkg.scripts['start:prod'].split(/\s+/);
  if (words[0] !== 'node' || words[words.length - 1] !== 'dist/main.js') {
    throw new Error(`start:prod is not "node <flags> dist/main.js": ${pkg.scripts['start:prod']}`);
  }
  return words.slice(1, -1);
}
