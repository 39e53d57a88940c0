import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/**
 * The page's files: src/simulator/public under tsx and Jest, dist/simulator/public after
 * `nest build` (copied there as assets, see nest-cli.json).
 */
export const SIMULATOR_PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'public');

/** Serves the phone simulator page at /simulator (index.html, simulator.js, simulator.css). */
export async function registerSimulatorPage(app: NestFastifyApplication): Promise<void> {
  if (!existsSync(join(SIMULATOR_PUBLIC_DIR, 'index.html'))) {
    throw new Error(
      `The simulator page is missing from ${SIMULATOR_PUBLIC_DIR} (rebuild, or set SIMULATOR_ENABLED=false)`,
    );
  }
  await app.register(fastifyStatic, {
    root: SIMULATOR_PUBLIC_DIR,
    prefix: '/simulator/',
    // Swagger UI and bull-board register @fastify/static too.
    decorateReply: false,
    index: 'index.html',
    // One route per file (and /simulator/ for index.html, which ignoreTrailingSlash also answers at
    // /simulator): the page refers to its files by absolute URL, so both work.
    wildcard: false,
  });
}
