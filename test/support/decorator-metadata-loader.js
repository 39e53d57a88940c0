/**
 * Runs the service's TypeScript in a child process as Nest needs it: with decorator metadata,
 * which tsx (esbuild) does not emit, so Nest could not resolve constructor dependencies. Each
 * `.ts` file is transpiled alone, as ts-jest does for the tests, and `./x.js` imports resolve to
 * `./x.ts` as they do in the source tree.
 *
 * Usage: `node --import ./test/support/decorator-metadata-loader.js src/main.ts`
 */
import { existsSync, readFileSync } from 'node:fs';
import { register } from 'node:module';
import { fileURLToPath, URL } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import ts from 'typescript';

// Imported with --import, this module registers itself; Node then runs its hooks on a thread of their own.
if (isMainThread) register(import.meta.url);

const compilerOptions = {
  module: ts.ModuleKind.ESNext,
  target: ts.ScriptTarget.ES2023,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  esModuleInterop: true,
  inlineSourceMap: true,
};

export async function resolve(specifier, context, next) {
  if (/^\.\.?\//.test(specifier) && specifier.endsWith('.js') && context.parentURL?.startsWith('file:')) {
    const source = new URL(specifier.replace(/\.js$/, '.ts'), context.parentURL);
    if (existsSync(fileURLToPath(source))) return { url: source.href, format: 'module', shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const fileName = fileURLToPath(url);
  const { outputText } = ts.transpileModule(readFileSync(fileName, 'utf8'), { compilerOptions, fileName });
  return { format: 'module', source: outputText, shortCircuit: true };
}
