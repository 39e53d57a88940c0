import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  AT_SIMULATOR_CREDENTIALS,
  configFromEnv,
  ConfigValidationError,
  loadSimulatorsConfig,
  MPESA_DEVELOPMENT_DEFAULTS,
} from '../src/config/app-config.js';
import { MPESA_PRODUCTION_VARIABLES, SECRET_VARIABLES } from '../src/config/config.schema.js';
import { readCertificate } from '../src/mpesa/daraja.options.js';
import {
  ComposeError,
  composeRequirements,
  interpolate,
  loadCompose,
  parseDotEnv,
  projectDotEnv,
  serviceEnvironment,
  serviceFiles,
  type InterpolationTrace,
} from './support/compose.js';
import { productionEnv } from './support/production-env.js';
import { shippedNodeFlags } from '../bench/shipped-node-flags.js';

/**
 * `docker compose up` with no Docker engine: docker-compose.yml resolved the way Compose does, with
 * an operator's `.env` made from `.env.example`, then each Deni service's environment put through
 * the service's own start-up validation (the one `node dist/main.js` runs before anything else).
 * And the demo, `docker compose --env-file demo.env up`, the same way.
 */

const PROJECT = resolve('.');
const COMPOSE_FILE = readFileSync(resolve(PROJECT, 'docker-compose.yml'), 'utf8');
const ENV_EXAMPLE = readFileSync(resolve(PROJECT, '.env.example'), 'utf8');
const DEMO_ENV = readFileSync(resolve(PROJECT, 'demo.env'), 'utf8');
const DENI_SERVICES = ['api', 'worker'] as const;

/**
 * What production refuses to start without (config.schema.ts). Of the webhook's two protections
 * (a secret or an address allowlist) the compose file requires the secret.
 */
const PRODUCTION_REQUIRED: readonly string[] = [
  ...SECRET_VARIABLES,
  'USSD_WEBHOOK_SECRET',
  ...MPESA_PRODUCTION_VARIABLES,
];

/**
 * And the shortcodes: the schema's defaults are the sandbox's, which an operator with real
 * credentials must not fall back on.
 */
const OPERATOR_SHORTCODES = ['MPESA_SHORTCODE', 'MPESA_B2C_SHORTCODE'];

/** Stands in for Safaricom's certificate file on the operator's machine. */
const CERTIFICATE = productionEnv().MPESA_CERT_PATH;

/**
 * The `.env` of an operator who copied `.env.example` and set what is required: each required
 * line uncommented, keeping its documented example value, and with a freshly generated value where
 * the example leaves it blank (the secrets), except the certificate, which is a file of theirs.
 * Throws when a required variable is not in `.env.example` at all: an operator would not know it.
 */
function operatorDotEnv(required: Iterable<string>): string {
  const missing = new Set(required);
  const lines = ENV_EXAMPLE.split('\n').map((line) => {
    const m = /^#?\s*([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (!m || !missing.has(m[1])) return line;
    const [, name, value] = m;
    missing.delete(name);
    if (name === 'MPESA_CERT_PATH') return `${name}=${CERTIFICATE}`;
    if (parseDotEnv(`${name}=${value}`)[name] !== '') return `${name}=${value}`;
    return `${name}=${randomBytes(32).toString('hex')}`;
  });
  if (missing.size > 0) throw new Error(`not in .env.example: ${[...missing].join(', ')}`);
  return lines.join('\n');
}

const OPERATOR_REQUIRED = [
  ...new Set([...composeRequirements(COMPOSE_FILE), ...PRODUCTION_REQUIRED, ...OPERATOR_SHORTCODES]),
].sort();
const OPERATOR_DOTENV = operatorDotEnv(OPERATOR_REQUIRED);
const OPERATOR_ENV = parseDotEnv(OPERATOR_DOTENV);

/** `docker compose up` as far as the service's own start-up validation; throws where either stops. */
function start(dotEnv: Record<string, string>, name: string) {
  const project = loadCompose(COMPOSE_FILE, PROJECT, { dotEnv });
  const env = serviceEnvironment(project, name);
  return { project, env, config: configFromEnv(env) };
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    if (e instanceof ComposeError || e instanceof ConfigValidationError) return e.message;
    throw e;
  }
  throw new Error('started');
}

describe('docker compose up (docker-compose.yml resolved as Compose does, no Docker engine)', () => {
  it.each(DENI_SERVICES)('%s: gets every variable production requires and passes the start-up validation', (name) => {
    const { project, env, config } = start(OPERATOR_ENV, name);
    expect(config).toMatchObject({ isProduction: true, role: name });
    expect(project.trace.warnings).toEqual([]); // no ${VAR} silently blank
    // From the operator's .env, by name, not from a default of the file or of the schema.
    for (const variable of OPERATOR_REQUIRED) {
      if (variable !== 'MPESA_CERT_PATH') expect(env[variable]).toBe(OPERATOR_ENV[variable]);
    }
    expect(config.mpesa.baseUrl).toBe(OPERATOR_ENV.MPESA_BASE_URL.replace(/\/+$/, ''));
    expect(config.mpesa.shortcode).toBe(OPERATOR_ENV.MPESA_SHORTCODE);
    expect(config.mpesa.b2cShortcode).toBe(OPERATOR_ENV.MPESA_B2C_SHORTCODE);
  });

  it.each(DENI_SERVICES)("%s: reads Safaricom's certificate at MPESA_CERT_PATH from a file mounted there", (name) => {
    const { project, env } = start(OPERATOR_ENV, name);
    const mounted = serviceFiles(project, name).get(env.MPESA_CERT_PATH);
    // The operator's MPESA_CERT_PATH is a path on the host; the container's is where it is mounted.
    expect(mounted).toBe(resolve(PROJECT, OPERATOR_ENV.MPESA_CERT_PATH));
    expect(() => readCertificate(mounted as string)).not.toThrow();
  });

  it('does not start from .env.example copied as is: its secrets are blank', () => {
    expect(refusal(() => start(parseDotEnv(ENV_EXAMPLE), 'api'))).toMatch(/ADMIN_API_KEY|JWT_SECRET|PIN_PEPPER/);
  });

  describe.each(OPERATOR_REQUIRED.map((variable) => [variable]))('without %s', (variable) => {
    const named = new RegExp(`(^|[^A-Z0-9_])${variable}([^A-Z0-9_]|$)`);

    it.each(DENI_SERVICES)('%s refuses to start and names it, whether unset or blank', (name) => {
      const unset = Object.fromEntries(Object.entries(OPERATOR_ENV).filter(([k]) => k !== variable));
      expect(refusal(() => start(unset, name))).toMatch(named);
      expect(refusal(() => start({ ...OPERATOR_ENV, [variable]: '' }, name))).toMatch(named);
    });
  });

  it('runs postgres, redis, api and worker only: no simulators, whatever the file defines', () => {
    const { project, config } = start(OPERATOR_ENV, 'api');
    expect(project.profiles).toEqual([]);
    expect(Object.keys(project.services)).toEqual(['postgres', 'redis', 'api', 'worker']);
    expect(config.demo).toBe(false);
    expect(project.services.api.ports).toEqual(['5000:5000']);
  });

  it.each(DENI_SERVICES)(
    "%s: runs node with the flags Deni ships (start:prod's, the image's), unless DENI_NODE_OPTIONS says others",
    (name) => {
      const flags = shippedNodeFlags();
      expect(flags.length).toBeGreaterThan(0);
      expect(start(OPERATOR_ENV, name).env.NODE_OPTIONS).toBe(flags.join(' '));
      const image = /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(readFileSync(resolve(PROJECT, 'Dockerfile'), 'utf8'));
      expect(image?.[1]).toBe(flags.join(' '));
      const own = loadCompose(COMPOSE_FILE, PROJECT, {
        dotEnv: { ...OPERATOR_ENV, DENI_NODE_OPTIONS: '--max-old-space-size=300' },
        shell: {},
      });
      expect(serviceEnvironment(own, name).NODE_OPTIONS).toBe('--max-old-space-size=300');
    },
  );

  it('takes a variable from the shell over the .env file', () => {
    const { env } = start(OPERATOR_ENV, 'api');
    const shell = { MPESA_INITIATOR_NAME: 'from-the-shell' };
    const project = loadCompose(COMPOSE_FILE, PROJECT, { dotEnv: OPERATOR_ENV, shell });
    expect(env.MPESA_INITIATOR_NAME).toBe(OPERATOR_ENV.MPESA_INITIATOR_NAME);
    expect(serviceEnvironment(project, 'api').MPESA_INITIATOR_NAME).toBe('from-the-shell');
  });
});

describe('docker compose --env-file demo.env up --build (the demo profile)', () => {
  /** The demo as a newcomer runs it, beside an operator's `.env`, which Compose then does not read. */
  function demo(shell: Record<string, string> = {}) {
    const dotEnv = projectDotEnv({ dotEnv: OPERATOR_DOTENV, envFile: DEMO_ENV }, shell);
    return loadCompose(COMPOSE_FILE, PROJECT, { dotEnv, shell });
  }
  const DEMO = parseDotEnv(DEMO_ENV);

  it('runs the simulators service beside api and worker, with no variable silently blank', () => {
    const project = demo();
    expect(project.profiles).toEqual(['demo']);
    expect(Object.keys(project.services)).toEqual(['postgres', 'redis', 'api', 'worker', 'simulators']);
    expect(project.trace.warnings).toEqual([]);
  });

  it.each(DENI_SERVICES)(
    '%s: starts in production with DENI_DEMO, talking to the simulators service by its compose name',
    (name) => {
      const project = demo();
      const simulators = serviceEnvironment(project, 'simulators');
      const env = serviceEnvironment(project, name);
      const config = configFromEnv(env);
      const simulatorsUrl = `http://simulators:${simulators.SIMULATOR_PORT}`;
      expect(config).toMatchObject({ isProduction: true, demo: true, role: name });
      expect(config.mpesa).toMatchObject({
        baseUrl: simulatorsUrl,
        consumerKey: MPESA_DEVELOPMENT_DEFAULTS.consumerKey,
        consumerSecret: MPESA_DEVELOPMENT_DEFAULTS.consumerSecret,
        passkey: MPESA_DEVELOPMENT_DEFAULTS.passkey,
        initiatorName: MPESA_DEVELOPMENT_DEFAULTS.initiatorName,
        initiatorPassword: MPESA_DEVELOPMENT_DEFAULTS.initiatorPassword,
        certPath: undefined,
        simulatorCertificate: true,
        callbackBaseUrl: `http://api:${serviceEnvironment(project, 'api').PORT}`,
      });
      expect(config.sms).toMatchObject({
        provider: 'africastalking',
        africasTalking: { baseUrl: simulatorsUrl, ...AT_SIMULATOR_CREDENTIALS },
      });
      // No certificate is read, but the file Compose mounts for the default form's secret exists.
      const mounted = serviceFiles(project, name).get('/run/secrets/daraja_certificate');
      expect(mounted && existsSync(mounted)).toBe(true);
      // From demo.env, not from the operator's .env beside it.
      expect(env.ADMIN_API_KEY).toBe(DEMO.ADMIN_API_KEY);
      expect(env.ADMIN_API_KEY).not.toBe(OPERATOR_ENV.ADMIN_API_KEY);
    },
  );

  it('gives the simulators settings their own validation accepts, on the network, with state on a volume', () => {
    const project = demo();
    const env = serviceEnvironment(project, 'simulators');
    // The simulators never see a provider setting, so they can never print one.
    expect(Object.keys(env).filter((k) => /^(SAFARICOM|MPESA|AT)_/.test(k))).toEqual([]);
    const config = loadSimulatorsConfig(env);
    expect(config.host).toBe('0.0.0.0');
    expect(project.services.simulators.command).toEqual(['node', 'dist/simulators/main.js']);
    expect(project.services.simulators.volumes).toEqual([`simulatorsdata:${config.dataDir}`]);
    // A new volume takes the ownership of the image's directory: the node user's, or the simulators cannot write.
    expect(readFileSync(resolve(PROJECT, 'Dockerfile'), 'utf8')).toContain(
      `install -d -o node -g node ${config.dataDir}`,
    );
    const api = serviceEnvironment(project, 'api');
    expect(config.atDeliveryReportUrl).toBe(
      `http://api:${api.PORT}/api/sms/delivery-reports/africastalking?secret=${api.AT_DELIVERY_REPORT_SECRET}`,
    );
    // Published on this machine only, as is the API (its demo secrets are public).
    expect(project.services.simulators.ports).toEqual([`127.0.0.1:${config.port}:${config.port}`]);
    expect(project.services.api.ports).toEqual([`127.0.0.1:${api.PORT}:${api.PORT}`]);
  });

  it('uses public demo values for every secret, never an operator-looking one', () => {
    const env = serviceEnvironment(demo(), 'api');
    const secrets = [
      ...SECRET_VARIABLES,
      'USSD_WEBHOOK_SECRET',
      'MPESA_CALLBACK_SECRET',
      'AT_DELIVERY_REPORT_SECRET',
    ] as const;
    for (const name of secrets) expect(env[name]).toMatch(/^demo-/);
  });

  it.each([
    ['SAFARICOM_CONSUMER_KEY', 'a-real-consumer-key'],
    ['MPESA_INITIATOR_PASSWORD', 'a-real-password'],
    ['AT_API_KEY', 'a-real-api-key'],
    ['MPESA_BASE_URL', 'https://api.safaricom.co.ke'],
    ['AT_BASE_URL', 'https://api.africastalking.com'],
  ])('refuses to start with %s from the shell set to a real one', (variable, value) => {
    const env = serviceEnvironment(demo({ [variable]: value }), 'api');
    expect(refusal(() => configFromEnv(env))).toMatch(new RegExp(`${variable}: must be`));
  });

  it("refuses to start without DENI_DEMO: the demo's settings are not production's", () => {
    const env = serviceEnvironment(demo({ DENI_DEMO: '' }), 'worker');
    expect(refusal(() => configFromEnv(env))).toMatch(/MPESA_BASE_URL: must be an https:\/\/ URL/);
  });

  it('--profile demo alone adds the simulators, but api and worker stay on the real providers', () => {
    const project = loadCompose(COMPOSE_FILE, PROJECT, { dotEnv: OPERATOR_ENV, profiles: ['demo'] });
    expect(Object.keys(project.services)).toContain('simulators');
    const config = configFromEnv(serviceEnvironment(project, 'api'));
    expect(config).toMatchObject({ demo: false, mpesa: { baseUrl: OPERATOR_ENV.MPESA_BASE_URL.replace(/\/+$/, '') } });
  });
});

describe('the Compose model used above', () => {
  const vars: Record<string, string> = { SET: 'value', EMPTY: '' };
  const lookup = (name: string) => (Object.hasOwn(vars, name) ? vars[name] : undefined);
  const trace = (): InterpolationTrace => ({ required: new Set(), warnings: [] });

  it.each([
    ['${SET}', 'value'],
    ['$SET/x', 'value/x'],
    ['${EMPTY:-d}', 'd'],
    ['${EMPTY-d}', ''],
    ['${UNSET-d}', 'd'],
    ['${SET:+r}', 'r'],
    ['${EMPTY:+r}', ''],
    ['${EMPTY+r}', 'r'],
    ['${UNSET:-${SET}}', 'value'],
    ['${UNSET:-${ALSO_UNSET:-deep}}', 'deep'],
    ['$${SET} and $$SET', '${SET} and $SET'],
    ['cost: $5, $-x', 'cost: $5, $-x'],
    ['${EMPTY?e}', ''],
  ])('interpolates %s as %p (Compose documentation)', (template, expected) => {
    expect(interpolate(template, lookup)).toBe(expected);
  });

  it('stops on a required variable that is missing, naming it and its message, and warns of an unset one', () => {
    expect(() => interpolate('${UNSET:?set UNSET please}', lookup)).toThrow(
      'required variable UNSET is missing a value: set UNSET please',
    );
    expect(() => interpolate('${EMPTY:?set it}', lookup)).toThrow('required variable EMPTY is missing a value');
    expect(() => interpolate('${UNSET?x}', lookup)).toThrow('required variable UNSET');
    expect(() => interpolate('${SET:-', lookup)).toThrow('Invalid template');
    const seen = trace();
    expect(interpolate('a${UNSET}b', lookup, seen)).toBe('ab');
    expect(seen.warnings).toEqual(['The "UNSET" variable is not set. Defaulting to a blank string.']);
    // Only the branch taken is interpolated: a default never used cannot stop Compose.
    expect(interpolate('${SET:-${UNSET:?never}}', lookup)).toBe('value');
  });

  it('reads a .env file as Compose does', () => {
    const parsed = parseDotEnv(
      [
        '# COMMENTED=yes',
        'BLANK=',
        'PLAIN=a b # a comment',
        'HASH=a#b',
        "SINGLE='$SET # kept'",
        'DOUBLE="x\\ty ${SET} # kept" # dropped',
        'export EXPORTED=1',
        'REF=${PLAIN}-$SET',
      ].join('\n'),
      lookup,
    );
    expect(parsed).toEqual({
      BLANK: '',
      PLAIN: 'a b',
      HASH: 'a#b',
      SINGLE: '$SET # kept',
      DOUBLE: 'x\ty value # kept',
      EXPORTED: '1',
      REF: 'a b-value',
    });
  });

  it('starts the services of active profiles only (--profile, else COMPOSE_PROFILES), and checks dependencies', () => {
    const file = [
      'services:',
      '  always: {}',
      '  extra: { profiles: [demo, debug] }',
      '  other: { profiles: [other] }',
    ].join('\n');
    const names = (options: Parameters<typeof loadCompose>[2]) =>
      Object.keys(loadCompose(file, '/project', options).services);
    expect(names({})).toEqual(['always']);
    expect(names({ dotEnv: { COMPOSE_PROFILES: 'debug' } })).toEqual(['always', 'extra']);
    expect(names({ dotEnv: { COMPOSE_PROFILES: 'debug' }, shell: { COMPOSE_PROFILES: 'other' } })).toEqual([
      'always',
      'other',
    ]);
    expect(names({ dotEnv: { COMPOSE_PROFILES: 'other, demo' } })).toEqual(['always', 'extra', 'other']);
    expect(names({ dotEnv: { COMPOSE_PROFILES: 'other' }, profiles: ['demo'] })).toEqual(['always', 'extra']);
    expect(() =>
      loadCompose('services:\n  api: { depends_on: [sim] }\n  sim: { profiles: [demo] }', '/project', {}),
    ).toThrow('service "api" depends on undefined service "sim"');
  });

  it('reads --env-file instead of .env, never both, with the shell visible to it', () => {
    expect(projectDotEnv({ dotEnv: 'A=dot\nB=dot' })).toEqual({ A: 'dot', B: 'dot' });
    expect(projectDotEnv({ dotEnv: 'A=dot\nB=dot', envFile: 'A=file-${S}' }, { S: 'shell' })).toEqual({
      A: 'file-shell',
    });
    expect(projectDotEnv({})).toEqual({});
  });

  it('resolves anchors and merge keys, the service winning, and mounts of secrets and bind volumes', () => {
    const project = loadCompose(
      [
        'x-env: &env',
        '  A: ${SET}',
        '  B: base',
        '  C: ${UNSET:-fallback}',
        'x-svc: &svc',
        '  secrets: [cert, { source: key, target: /etc/k.pem }]',
        '  volumes: [data:/data, ./conf:/conf:ro, { type: bind, source: /abs, target: /mnt }]',
        'services:',
        '  one:',
        '    <<: *svc',
        '    environment:',
        '      <<: *env',
        '      B: own',
        '      PASSED:',
        '      NOT_SET:',
        '      PORT: 5000',
        '  two:',
        '    environment: [X=1, PASSED, NOT_SET]',
        'secrets:',
        '  cert: { file: ./cert.pem }',
        '  key: { file: /keys/k.pem }',
      ].join('\n'),
      '/project',
      { dotEnv: { SET: 'dot', PASSED: 'through' }, shell: { SET: 'shell' } },
    );
    expect(serviceEnvironment(project, 'one')).toEqual({
      A: 'shell',
      B: 'own',
      C: 'fallback',
      PASSED: 'through',
      PORT: '5000',
    });
    expect(serviceEnvironment(project, 'two')).toEqual({ X: '1', PASSED: 'through' });
    expect(Object.fromEntries(serviceFiles(project, 'one'))).toEqual({
      '/run/secrets/cert': '/project/cert.pem',
      '/etc/k.pem': '/keys/k.pem',
      '/conf': '/project/conf',
      '/mnt': '/abs',
    });
  });
});
