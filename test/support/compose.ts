import { isAbsolute, posix, resolve } from 'node:path';
import { parse } from 'yaml';

/**
 * What `docker compose` does with docker-compose.yml before it starts a container, for machines
 * with no Docker engine: read the project's `.env` file, interpolate the YAML's values, resolve a
 * service's environment and the files mounted into it. Only what Compose documents
 * (https://docs.docker.com/reference/compose-file/interpolation/ and
 * https://docs.docker.com/compose/how-tos/environment-variables/variable-interpolation/#env-file-syntax),
 * and an error for anything the model does not cover rather than a silent guess.
 */

/** Compose refused the project (a required variable is missing, a template is malformed, ...). */
export class ComposeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ComposeError';
  }
}

export type Lookup = (name: string) => string | undefined;

/** What interpolation ran into: names asked for with `?`/`:?`, and Compose's warnings. */
export interface InterpolationTrace {
  required: Set<string>;
  warnings: string[];
}

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*/;

/** Index of the `}` closing the `{` at `open`, counting nested braces; -1 when there is none. */
function closingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

/**
 * `${VAR}`, `$VAR`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`,
 * `${VAR:+replacement}`, `${VAR+replacement}` (nested in the default, error and replacement, which
 * are interpolated only when used), and `$$` for a literal `$`. A `$` that starts neither is kept.
 */
export function interpolate(text: string, lookup: Lookup, trace?: InterpolationTrace): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '$') {
      out += text[i++];
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '{') {
      const end = closingBrace(text, i + 1);
      if (end < 0) throw new ComposeError(`Invalid template: "${text}"`);
      out += braced(text.slice(i + 2, end), text, lookup, trace);
      i = end + 1;
    } else {
      const name = NAME.exec(text.slice(i + 1))?.[0];
      if (name) {
        out += direct(name, lookup, trace);
        i += 1 + name.length;
      } else {
        out += text[i++];
      }
    }
  }
  return out;
}

function direct(name: string, lookup: Lookup, trace?: InterpolationTrace): string {
  const value = lookup(name);
  if (value === undefined) {
    trace?.warnings.push(`The "${name}" variable is not set. Defaulting to a blank string.`);
    return '';
  }
  return value;
}

function braced(inner: string, template: string, lookup: Lookup, trace?: InterpolationTrace): string {
  const name = NAME.exec(inner)?.[0];
  if (!name) throw new ComposeError(`Invalid template: "${template}"`);
  const rest = inner.slice(name.length);
  if (rest === '') return direct(name, lookup, trace);
  const operator = /^(:-|:\?|:\+|-|\?|\+)/.exec(rest)?.[0];
  if (!operator) throw new ComposeError(`Invalid template: "${template}"`);
  const argument = () => interpolate(rest.slice(operator.length), lookup, trace);
  const value = lookup(name);
  const set = value !== undefined;
  const nonEmpty = set && value !== '';
  switch (operator) {
    case ':-':
      return nonEmpty ? value : argument();
    case '-':
      return set ? value : argument();
    case ':+':
      return nonEmpty ? argument() : '';
    case '+':
      return set ? argument() : '';
    default: {
      trace?.required.add(name);
      if (operator === ':?' ? nonEmpty : set) return value as string;
      const message = argument();
      throw new ComposeError(`required variable ${name} is missing a value${message ? `: ${message}` : ''}`);
    }
  }
}

/** Interpolates every string value of a parsed YAML tree (never the keys), as Compose does. */
export function interpolateTree(node: unknown, lookup: Lookup, trace?: InterpolationTrace, path = ''): unknown {
  try {
    if (typeof node === 'string') return interpolate(node, lookup, trace);
  } catch (e) {
    if (e instanceof ComposeError) throw new ComposeError(`error while interpolating ${path}: ${e.message}`);
    throw e;
  }
  if (Array.isArray(node)) return node.map((x, i) => interpolateTree(x, lookup, trace, `${path}[${i}]`));
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [k, interpolateTree(v, lookup, trace, path ? `${path}.${k}` : k)]),
    );
  }
  return node;
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', '"': '"' };

/**
 * A `.env` file as Compose reads it: `#` lines and blank lines ignored (so `# VAR=value` leaves VAR
 * unset), `export ` allowed, single quotes literal, double quotes with \n \r \t \\ \" escapes, an
 * unquoted value's comment only after a space (`VAR=VAL # comment`, but `VAR=VAL#x` keeps `#x`),
 * and unquoted and double-quoted values interpolated from the variables above them, then `lookup`.
 */
export function parseDotEnv(text: string, lookup: Lookup = () => undefined): Record<string, string> {
  const vars: Record<string, string> = {};
  const known: Lookup = (name) => (Object.hasOwn(vars, name) ? vars[name] : lookup(name));
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim().replace(/^export\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new ComposeError(`.env line ${index + 1}: not modelled here: ${raw}`);
    const [, key, value] = m;
    const quote = value[0];
    if (quote === "'" || quote === '"') {
      let end = 1;
      while (end < value.length && !(value[end] === quote && value[end - 1] !== '\\')) end++;
      const after = value.slice(end + 1).trim();
      if (end >= value.length || (after !== '' && !after.startsWith('#'))) {
        throw new ComposeError(`.env line ${index + 1}: unterminated or trailing text after a quoted value`);
      }
      const body = value.slice(1, end);
      vars[key] =
        quote === "'"
          ? body.replace(/\\'/g, "'")
          : interpolate(
              body.replace(/\\(.)/g, (all, c: string) => ESCAPES[c] ?? all),
              known,
            );
    } else {
      vars[key] = interpolate(value.replace(/\s+#.*$/, '').trim(), known);
    }
  }
  return vars;
}

export interface ComposeService {
  profiles?: string[];
  depends_on?: string[] | Record<string, unknown>;
  environment?: Record<string, string | number | boolean | null> | string[];
  env_file?: unknown;
  secrets?: (string | { source: string; target?: string })[];
  volumes?: (string | { type: string; source?: string; target: string })[];
  [key: string]: unknown;
}

export interface ComposeProject {
  /** The directory relative paths are resolved from (the compose file's). */
  directory: string;
  /** The services `up` starts: those with no `profiles`, and those with an active one. */
  services: Record<string, ComposeService>;
  /** The active profiles (`--profile`, else COMPOSE_PROFILES). */
  profiles: string[];
  secrets: Record<string, { file?: string; environment?: string }>;
  /** The project's environment (the shell over `.env`), which interpolation read. */
  lookup: Lookup;
  trace: InterpolationTrace;
}

/**
 * The project's variables file as `docker compose [--env-file FILE] up` reads it: the `.env`
 * beside the compose file, or with `--env-file` that file alone (`.env` is then not read). Its
 * values may refer to the shell's variables.
 */
export function projectDotEnv(
  files: { dotEnv?: string; envFile?: string },
  shell: Record<string, string> = {},
): Record<string, string> {
  const text = files.envFile ?? files.dotEnv;
  return text === undefined ? {} : parseDotEnv(text, (name) => (Object.hasOwn(shell, name) ? shell[name] : undefined));
}

/**
 * The compose file as `docker compose up` sees it: YAML with anchors and `<<` merge keys resolved,
 * then every value interpolated from the shell's variables over those of the `.env` file (every
 * service's, active or not, as Compose does), then the services of inactive profiles left out.
 * The active profiles are those given as `--profile` (`profiles`), else COMPOSE_PROFILES
 * (comma-separated, from the shell or the `.env` file). Throws ComposeError where Compose would
 * stop, including an active service that depends on one left out.
 */
export function loadCompose(
  yamlText: string,
  directory: string,
  project: { shell?: Record<string, string>; dotEnv?: Record<string, string>; profiles?: string[] },
): ComposeProject {
  const variables = { ...project.dotEnv, ...project.shell };
  const lookup: Lookup = (name) => (Object.hasOwn(variables, name) ? variables[name] : undefined);
  const trace: InterpolationTrace = { required: new Set(), warnings: [] };
  const parsed: unknown = parse(yamlText, { merge: true });
  const tree = interpolateTree(parsed, lookup, trace) as {
    services?: Record<string, ComposeService>;
    secrets?: ComposeProject['secrets'];
  };
  const profiles =
    project.profiles ??
    (lookup('COMPOSE_PROFILES') ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
  const services = Object.fromEntries(
    Object.entries(tree.services ?? {}).filter(
      ([, s]) => !s.profiles?.length || s.profiles.some((p) => profiles.includes(p)),
    ),
  );
  for (const [name, s] of Object.entries(services)) {
    const needs = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
    for (const dependency of needs) {
      if (!services[dependency])
        throw new ComposeError(`service "${name}" depends on undefined service "${dependency}"`);
    }
  }
  return { directory, services, profiles, secrets: tree.secrets ?? {}, lookup, trace };
}

/** The variables a compose file requires (`${VAR:?…}` or `${VAR?…}`), whatever their values. */
export function composeRequirements(yamlText: string): Set<string> {
  const trace: InterpolationTrace = { required: new Set(), warnings: [] };
  interpolateTree(parse(yamlText, { merge: true }), () => 'set', trace);
  return trace.required;
}

function service(project: ComposeProject, name: string): ComposeService {
  const found = project.services[name];
  if (!found) throw new ComposeError(`no such service: ${name}`);
  if (found.env_file !== undefined) throw new ComposeError(`${name}: env_file is not modelled here`);
  return found;
}

/**
 * The variables a service's container is given. A name without a value (`VAR:` or `- VAR`) takes
 * the project environment's value, and is left out when that has none.
 */
export function serviceEnvironment(project: ComposeProject, name: string): Record<string, string> {
  const declared = service(project, name).environment ?? {};
  const entries: [string, string | undefined][] = Array.isArray(declared)
    ? declared.map((item) => {
        const i = item.indexOf('=');
        return i < 0 ? [item, project.lookup(item)] : [item.slice(0, i), item.slice(i + 1)];
      })
    : Object.entries(declared).map(([k, v]) => [k, v === null ? project.lookup(k) : String(v)]);
  return Object.fromEntries(entries.filter((e): e is [string, string] => e[1] !== undefined));
}

/** Files of the host mounted into a service's containers: container path → host path. */
export function serviceFiles(project: ComposeProject, name: string): Map<string, string> {
  const files = new Map<string, string>();
  const hostPath = (p: string) => (isAbsolute(p) ? p : resolve(project.directory, p));
  for (const entry of service(project, name).secrets ?? []) {
    const { source, target } = typeof entry === 'string' ? { source: entry, target: undefined } : entry;
    const secret = project.secrets[source];
    if (!secret) throw new ComposeError(`service "${name}" refers to undefined secret ${source}`);
    if (secret.file === undefined) continue; // from an environment variable: no host file
    const into = target ?? source;
    files.set(posix.isAbsolute(into) ? into : posix.join('/run/secrets', into), hostPath(secret.file));
  }
  for (const entry of service(project, name).volumes ?? []) {
    if (typeof entry === 'string') {
      const [source, target] = entry.split(':');
      if (source.startsWith('~')) throw new ComposeError(`${name}: a volume from ~ is not modelled here`);
      // A source that is a path binds a host path; otherwise it names a volume.
      if (/^[./]/.test(source) && target) files.set(target, hostPath(source));
    } else if (entry.type === 'bind' && entry.source) {
      files.set(entry.target, hostPath(entry.source));
    }
  }
  return files;
}
