import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository stands alone: every markdown file that the code, the tests, the scripts or the
 * docs name is in the repository, every link between its files finds its target, and every
 * `#anchor` into one of its markdown files names a heading there. The README stays short (the
 * reference lives in docs/). No services needed.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCANNED = ['src', 'test', 'scripts', 'bench', 'chaos', 'docs', 'README.md'];
/** Not ours to check: generated output, and copies of third-party documents whose `.md` names are files of the repositories they were copied from. */
const SKIPPED = ['test/artifacts', 'bench/profiles', 'test/fixtures/providers'];
const TEXT_FILE = /\.(ts|js|mjs|cjs|md|json|ya?ml|sh|html|css|txt)$/;
const README_MAX_BYTES = 16_000;

/** A mention of a markdown file by path (`docs/money.md#debt-allocation`, `../docs/ussd-journey.md`). */
const MENTION = /(?<![\w/.-])((?:\.{1,2}\/)*[\w-]+(?:[/.][\w-]+)*\.md)(?:#([\w-]+))?(?!\w)/g;
/** An inline markdown link or image: `[text](target)`, `[text](<target> "title")`. */
const LINK = /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g;
/** A reference-style link definition: `[id]: target`. */
const LINK_DEFINITION = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm;
const URL_WITH_SCHEME = /\b[a-z][a-z0-9+.-]*:\/\/\S+/gi;

const rel = (file: string) => path.relative(ROOT, file).split(path.sep).join('/');

function scannedFiles(): string[] {
  const files: string[] = [];
  const walk = (entry: string) => {
    if (SKIPPED.includes(rel(entry)) || path.basename(entry) === 'node_modules') return;
    if (statSync(entry).isDirectory()) {
      for (const name of readdirSync(entry).sort()) walk(path.join(entry, name));
    } else if (TEXT_FILE.test(entry)) {
      files.push(entry);
    }
  };
  for (const entry of SCANNED) walk(path.join(ROOT, entry));
  return files;
}

/** The lines of a markdown file outside fenced code blocks, as one text (fenced lines blanked). */
function outsideFences(markdown: string): string {
  let fence: string | null = null;
  return markdown
    .split('\n')
    .map((line) => {
      const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
      if (marker && (fence === null || (marker[0] === fence[0] && marker.length >= fence.length))) {
        fence = fence === null ? marker : null;
        return '';
      }
      return fence === null ? line : '';
    })
    .join('\n');
}

/** GitHub's heading anchor: the heading's text, lowercased, punctuation dropped, spaces to hyphens. */
function githubSlug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a markdown file offers: its headings' slugs (repeats get -1, -2…) and HTML ids. */
function anchorsOf(file: string): Set<string> {
  const text = outsideFences(readFileSync(file, 'utf8'));
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of text.matchAll(/^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/gm)) {
    const slug = githubSlug(heading);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  for (const [, id] of text.matchAll(/<a\s[^>]*\b(?:id|name)="([^"]+)"/g)) anchors.add(id);
  return anchors;
}

interface Reference {
  /** Where it is written, e.g. `src/loans/allocation.ts:21`. */
  from: string;
  /** As written. */
  written: string;
  /** The file it resolves to, or null when it resolves to nothing. */
  target: string | null;
  anchor: string | null;
}

const isFile = (p: string) => existsSync(p) && statSync(p).isFile();
const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

/**
 * Every reference to a file of the repository: mentions of markdown files anywhere (resolved
 * against the file's folder, then the repository root), and, in markdown files, relative links
 * (resolved as GitHub does: against the file's folder, or the root for a leading `/`).
 */
function references(): Reference[] {
  const found: Reference[] = [];
  for (const file of scannedFiles()) {
    const text = readFileSync(file, 'utf8');
    const dir = path.dirname(file);
    const withoutUrls = text.replace(URL_WITH_SCHEME, (url) => ' '.repeat(url.length));
    for (const m of withoutUrls.matchAll(MENTION)) {
      const candidates = [path.resolve(dir, m[1]), path.resolve(ROOT, m[1])];
      found.push({
        from: `${rel(file)}:${lineOf(text, m.index)}`,
        written: m[0],
        target: candidates.find(isFile) ?? null,
        anchor: m[2] ?? null,
      });
    }
    if (!file.endsWith('.md')) continue;
    const markdown = outsideFences(text);
    for (const m of [...markdown.matchAll(LINK), ...markdown.matchAll(LINK_DEFINITION)]) {
      const written = m[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(written)) continue; // https:, mailto: …
      const [pathPart, anchor = null] = written.split('#', 2) as [string, string?];
      const resolved =
        pathPart === ''
          ? file
          : pathPart.startsWith('/')
            ? path.join(ROOT, decodeURI(pathPart))
            : path.resolve(dir, decodeURI(pathPart));
      const from = `${rel(file)}:${lineOf(text, m.index)}`;
      // A link to a markdown file is also a mention of it: report it once, resolved as a link.
      const mention = found.findIndex((r) => r.from === from && r.written === written);
      if (mention !== -1) found.splice(mention, 1);
      found.push({ from, written, target: existsSync(resolved) ? resolved : null, anchor });
    }
  }
  return found;
}

describe('the repository stands alone (docs and references)', () => {
  const all = references();

  it('finds the references it checks (the scanner is not blind)', () => {
    expect(all).toContainEqual(
      expect.objectContaining({ written: 'docs/ussd-journey.md', target: path.join(ROOT, 'docs/ussd-journey.md') }),
    );
    expect(all.filter((r) => r.from.startsWith('README.md') && r.written.startsWith('docs/')).length).toBeGreaterThan(
      0,
    );
  });

  it('names no file that the repository does not have', () => {
    const missing = all.filter((r) => r.target === null).map((r) => `${r.from}: ${r.written}`);
    expect(missing).toEqual([]);
  });

  it('points every #anchor into a markdown file at one of its headings', () => {
    const anchors = new Map<string, Set<string>>();
    const broken = all
      .filter((r) => r.target !== null && r.anchor !== null && r.target.endsWith('.md'))
      .filter((r) => {
        const target = r.target!;
        if (!anchors.has(target)) anchors.set(target, anchorsOf(target));
        return !anchors.get(target)!.has(r.anchor!);
      })
      .map((r) => `${r.from}: ${r.written} (no heading "${r.anchor}" in ${rel(r.target!)})`);
    expect(broken).toEqual([]);
  });

  it('slugs headings as GitHub does', () => {
    expect(githubSlug('Debt allocation')).toBe('debt-allocation');
    expect(githubSlug('USSD: `*383#` from any phone')).toBe('ussd-383-from-any-phone');
    expect(githubSlug('Offline mode: USSD while PostgreSQL is down')).toBe(
      'offline-mode-ussd-while-postgresql-is-down',
    );
    expect(githubSlug('Withdrawals (two-phase)')).toBe('withdrawals-two-phase');
    expect(githubSlug('The [ledger](../src/wallet/ledger.service.ts)')).toBe('the-ledger');
  });

  it(`keeps README.md at most ${README_MAX_BYTES} bytes: the reference lives in docs/`, () => {
    expect(statSync(path.join(ROOT, 'README.md')).size).toBeLessThanOrEqual(README_MAX_BYTES);
  });
});
