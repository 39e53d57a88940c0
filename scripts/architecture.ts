/**
 * The module graph, from the code. Runs dependency-cruiser with `.dependency-cruiser.cjs` (the
 * DESIGN §1 arrows, all errors), adds the check the file-level rules cannot make (no cycle between
 * module folders), and writes the folder graph as Mermaid into docs/architecture.md.
 *
 *   npm run architecture           check, then regenerate the graph in the docs
 *   npm run lint:deps              check, and fail when the graph in the docs is stale (CI)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const DOC = `${root}docs/architecture.md`;
const START = '<!-- module-graph:start (npm run architecture) -->';
const END = '<!-- module-graph:end -->';

export interface Cruised {
  modules: { source: string; dependencies: { resolved: string; coreModule?: boolean }[] }[];
  summary: { error: number; violations: { type: string; from: string; to: string; rule: { name: string } }[] };
}

/** `src/loans/loans.service.ts` → `loans`; the files at the top of src are the composition root. */
export function moduleOf(path: string): string | null {
  const m = /^src\/(?:([^/]+)\/)?[^/]+$/.exec(path) ?? /^src\/([^/]+)\//.exec(path);
  if (!m) return null;
  return m[1] ?? 'app';
}

/** Module → the modules it imports (self-edges dropped), sorted for a stable output. */
export function moduleGraph(cruised: Cruised): Map<string, string[]> {
  const edges = new Map<string, Set<string>>();
  for (const mod of cruised.modules) {
    const from = moduleOf(mod.source);
    if (!from) continue;
    const targets = edges.get(from) ?? new Set<string>();
    edges.set(from, targets);
    for (const dep of mod.dependencies) {
      const to = dep.coreModule ? null : moduleOf(dep.resolved);
      if (to && to !== from) targets.add(to);
    }
  }
  return new Map([...edges].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, [...v].sort()]));
}

/** The cycles of a directed graph (each as a path that returns to its start); empty when acyclic. */
export function cyclesOf(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

export function mermaid(graph: Map<string, string[]>): string {
  const lines = ['```mermaid', 'flowchart TD'];
  for (const [from, targets] of graph) for (const to of targets) lines.push(`  ${from} --> ${to}`);
  lines.push('```');
  return lines.join('\n');
}

function cruise(): Cruised {
  const run = spawnSync(
    process.execPath,
    [
      `${root}node_modules/dependency-cruiser/bin/dependency-cruise.mjs`,
      'src',
      '--config',
      '.dependency-cruiser.cjs',
      '--output-type',
      'json',
    ],
    { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (!run.stdout) throw new Error(`dependency-cruiser failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Cruised;
}

function main(): void {
  const check = process.argv.includes('--check');
  const cruised = cruise();
  const problems = cruised.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`);
  const graph = moduleGraph(cruised);
  for (const cycle of cyclesOf(graph)) problems.push(`no-cycles (module folders): ${cycle.join(' → ')}`);

  const doc = readFileSync(DOC, 'utf8');
  const from = doc.indexOf(START);
  const to = doc.indexOf(END);
  if (from < 0 || to < from) problems.push(`docs/architecture.md: the markers ${START} … ${END} are missing`);
  else {
    const fresh = `${doc.slice(0, from + START.length)}\n\n${mermaid(graph)}\n\n${doc.slice(to)}`;
    if (fresh !== doc) {
      if (check) problems.push('docs/architecture.md: the module graph is stale; run `npm run architecture`');
      else writeFileSync(DOC, fresh);
    }
  }

  if (problems.length) {
    console.error(`✘ ${problems.length} dependency rule violation(s):\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`✔ dependency rules hold (${cruised.modules.length} files, ${graph.size} modules, no cycles)`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
