import { readFileSync } from 'node:fs';
import { buildConfig, parseEnv, requireMpesaBaseUrl } from './app-config.js';
import { envSchema } from './config.schema.js';
import { configProblems } from '../../test/support/config-problems.js';

const MPESA_PRODUCTION = {
  MPESA_BASE_URL: 'https://api.safaricom.co.ke',
  SAFARICOM_CONSUMER_KEY: 'consumer-key',
  SAFARICOM_CONSUMER_SECRET: 'consumer-secret',
  MPESA_PASSKEY: 'passkey',
  MPESA_INITIATOR_NAME: 'deni-initiator',
  MPESA_INITIATOR_PASSWORD: 'initiator-password',
  MPESA_CERT_PATH: '/etc/deni/safaricom.cer',
  MPESA_CALLBACK_BASE_URL: 'https://deni.example.com',
  MPESA_CALLBACK_SECRET: 'c'.repeat(24),
  MPESA_CALLBACK_ALLOWED_IPS: '196.201.214.0/24',
};

const SECRETS = {
  ADMIN_API_KEY: 'admin-key-0123456789',
  JWT_SECRET: 'j'.repeat(32),
  PIN_PEPPER: 'p'.repeat(32),
  USSD_WEBHOOK_SECRET: 'u'.repeat(20),
  ...MPESA_PRODUCTION,
};

const problems = configProblems;

describe('configuration', () => {
  it('starts with no variables at all in development, with the documented defaults', () => {
    const config = buildConfig(parseEnv({}));
    expect(config.http.port).toBe(5000);
    expect(config.role).toBe('all');
    expect(config.database.url).toBe('postgres://postgres@127.0.0.1:5432/deni');
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config.redis.keyPrefix).toBe('deni');
    expect(config.database.migrationsRun).toBe(true);
    expect(config.localServices.enabled).toBe(true);
    expect(config.pin).toEqual({ maxAttempts: 3, lockMinutes: 30 });
    expect(config.security.devSecrets).toEqual(['JWT_SECRET', 'PIN_PEPPER']);
  });

  it('refuses to start in production without its secrets and names each one', () => {
    const found = problems({ NODE_ENV: 'production' });
    expect(found).toEqual(
      expect.arrayContaining([
        'ADMIN_API_KEY: required when NODE_ENV=production',
        'JWT_SECRET: required when NODE_ENV=production',
        'PIN_PEPPER: required when NODE_ENV=production',
        'USSD_WEBHOOK_SECRET: required when NODE_ENV=production (or set USSD_ALLOWED_IPS)',
      ]),
    );
    // An address allowlist protects the webhook as well as a secret does.
    expect(
      problems({
        NODE_ENV: 'production',
        ...SECRETS,
        USSD_WEBHOOK_SECRET: undefined,
        USSD_ALLOWED_IPS: '196.201.214.0/24',
      }),
    ).toEqual([]);
    expect(problems({ NODE_ENV: 'production', ...SECRETS, PIN_PEPPER: undefined })).toEqual([
      'PIN_PEPPER: required when NODE_ENV=production',
    ]);
  });

  it('accepts production with its secrets, and never starts local servers there', () => {
    const config = buildConfig(parseEnv({ NODE_ENV: 'production', ...SECRETS }));
    expect(config.isProduction).toBe(true);
    expect(config.localServices.enabled).toBe(false);
    expect(config.security.devSecrets).toEqual([]);
  });

  it('runs M-PESA against the simulator with sandbox defaults outside production, and requires the real settings in production', () => {
    // Development talks to the simulators process on SIMULATOR_PORT (8383 unless set); tests to their own.
    expect(buildConfig(parseEnv({ NODE_ENV: 'development' })).mpesa.baseUrl).toBe('http://127.0.0.1:8383');
    expect(buildConfig(parseEnv({ NODE_ENV: 'development', SIMULATOR_PORT: '9001' })).sms.africasTalking.baseUrl).toBe(
      'http://127.0.0.1:9001',
    );
    expect(buildConfig(parseEnv({ NODE_ENV: 'test' })).mpesa.baseUrl).toBeUndefined();
    // Deni starts no simulator of its own: an application built so refuses, naming the variable.
    expect(() => requireMpesaBaseUrl(buildConfig(parseEnv({ NODE_ENV: 'test' })).mpesa)).toThrow(
      'MPESA_BASE_URL: required outside development',
    );
    const dev = buildConfig(parseEnv({ PORT: '5050' })).mpesa;
    expect(dev).toMatchObject({
      baseUrl: 'http://127.0.0.1:8383',
      shortcode: '174379',
      passkey: 'bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919',
      transactionType: 'CustomerPayBillOnline',
      b2cShortcode: '600000',
      initiatorName: 'testapi',
      callbackBaseUrl: 'http://127.0.0.1:5050',
      timeoutMs: 10_000,
      reconcileAfterMs: 180_000,
      reconcileMaxAgeMs: 86_400_000,
    });
    expect(problems({ MPESA_RECONCILE_AFTER_MS: '60000', MPESA_RECONCILE_MAX_AGE_MS: '60000' })).toEqual([
      'MPESA_RECONCILE_MAX_AGE_MS: must be greater than MPESA_RECONCILE_AFTER_MS',
    ]);
    const found = problems({
      NODE_ENV: 'production',
      ...SECRETS,
      MPESA_BASE_URL: undefined,
      MPESA_CALLBACK_SECRET: undefined,
    });
    expect(found).toEqual([
      'MPESA_BASE_URL: required when NODE_ENV=production',
      'MPESA_CALLBACK_SECRET: required when NODE_ENV=production',
    ]);
    expect(
      problems({ NODE_ENV: 'production', ...SECRETS, MPESA_CALLBACK_BASE_URL: 'http://deni.example.com' }),
    ).toEqual(['MPESA_CALLBACK_BASE_URL: must be an https:// URL when NODE_ENV=production']);
    expect(problems({ MPESA_CALLBACK_SECRET: 'has/slash-and-is-long' })).toEqual([
      'MPESA_CALLBACK_SECRET: letters, digits, _ and - only (it is a URL path segment)',
    ]);
    const prod = buildConfig(
      parseEnv({ NODE_ENV: 'production', ...SECRETS, MPESA_CALLBACK_ALLOWED_IPS: '196.201.214.0/24, 196.201.213.114' }),
    );
    expect(prod.mpesa).toMatchObject({
      baseUrl: 'https://api.safaricom.co.ke',
      consumerSecret: 'consumer-secret',
      callbackAllowedIps: ['196.201.214.0/24', '196.201.213.114'],
    });
  });

  describe('where production rules apply outside NODE_ENV=production', () => {
    /** What production requires of any process reachable from elsewhere (M-PESA simulated). */
    const EXPOSED_SECRETS = [
      'ADMIN_API_KEY',
      'JWT_SECRET',
      'PIN_PEPPER',
      'USSD_WEBHOOK_SECRET',
      'MPESA_CALLBACK_SECRET',
    ];
    /** Each of EXPOSED_SECRETS named, and why (the webhook may be protected by an allowlist instead). */
    const refusals = (why: string) =>
      EXPOSED_SECRETS.map(
        (name) => `${name}: required when ${why}${name === 'USSD_WEBHOOK_SECRET' ? ' (or set USSD_ALLOWED_IPS)' : ''}`,
      );
    const withSecrets = {
      ADMIN_API_KEY: SECRETS.ADMIN_API_KEY,
      JWT_SECRET: SECRETS.JWT_SECRET,
      PIN_PEPPER: SECRETS.PIN_PEPPER,
      USSD_WEBHOOK_SECRET: SECRETS.USSD_WEBHOOK_SECRET,
      MPESA_CALLBACK_SECRET: SECRETS.MPESA_CALLBACK_SECRET,
    };

    it('listens on loopback by default outside production, and on every interface in production', () => {
      expect(buildConfig(parseEnv({})).http.host).toBe('127.0.0.1');
      expect(buildConfig(parseEnv({ NODE_ENV: 'test' })).http.host).toBe('127.0.0.1');
      expect(buildConfig(parseEnv({ NODE_ENV: 'production', ...SECRETS })).http.host).toBe('0.0.0.0');
    });

    it.each(['0.0.0.0', '::', '192.168.1.20', 'deni.example.com'])(
      'refuses HOST=%s in development without the secrets, naming each one and why',
      (host) => {
        expect(problems({ NODE_ENV: 'development', HOST: host })).toEqual(refusals(`HOST is ${host} (not loopback)`));
        expect(problems({ NODE_ENV: 'development', HOST: host, ...withSecrets })).toEqual([]);
        // An address allowlist protects the webhook as well as a secret does, as in production.
        expect(
          problems({ HOST: host, ...withSecrets, USSD_WEBHOOK_SECRET: undefined, USSD_ALLOWED_IPS: '10.0.0.0/8' }),
        ).toEqual([]);
      },
    );

    it('takes every loopback address as loopback', () => {
      for (const host of ['127.0.0.1', '127.0.0.53', '::1', 'localhost', '::ffff:127.0.0.1'])
        expect({ host, problems: problems({ HOST: host }) }).toEqual({ host, problems: [] });
      expect(buildConfig(parseEnv({ HOST: '::1' })).http.host).toBe('::1');
    });

    it("a live Daraja (Safaricom's host) requires every production secret and M-PESA setting, whatever NODE_ENV says", () => {
      const found = problems({ NODE_ENV: 'development', MPESA_BASE_URL: 'https://api.safaricom.co.ke' });
      const why = 'MPESA_BASE_URL is live (api.safaricom.co.ke, not loopback)';
      expect(found).toEqual(expect.arrayContaining(refusals(why)));
      for (const name of ['SAFARICOM_CONSUMER_KEY', 'MPESA_INITIATOR_PASSWORD', 'MPESA_CALLBACK_ALLOWED_IPS'])
        expect(found).toContain(`${name}: required when ${why}`);
      expect(problems({ NODE_ENV: 'test', ...SECRETS })).toEqual([]);
      expect(
        problems({ NODE_ENV: 'development', ...SECRETS, MPESA_CALLBACK_BASE_URL: 'http://deni.example.com' }),
      ).toEqual([
        'MPESA_CALLBACK_BASE_URL: must be an https:// URL when MPESA_BASE_URL is live (api.safaricom.co.ke, not loopback)',
      ]);
    });

    it("a live Africa's Talking (its host, or SMS_PROVIDER=africastalking) requires the production secrets", () => {
      const at = { AT_USERNAME: 'deni', AT_API_KEY: 'at-key' };
      const why = 'SMS_PROVIDER=africastalking (api.africastalking.com, not loopback)';
      // Its delivery reports are unsigned: the development secret, being public, will not do.
      expect(problems({ SMS_PROVIDER: 'africastalking', ...at })).toEqual([
        ...refusals(why),
        `AT_DELIVERY_REPORT_SECRET: required when ${why}`,
      ]);
      expect(problems({ AT_BASE_URL: 'https://api.sandbox.africastalking.com' })).toEqual(
        refusals('AT_BASE_URL is live (api.sandbox.africastalking.com, not loopback)'),
      );
      expect(problems({ SMS_PROVIDER: 'africastalking', ...at, ...withSecrets })).toEqual([
        `AT_DELIVERY_REPORT_SECRET: required when ${why}`,
      ]);
      expect(
        problems({ SMS_PROVIDER: 'africastalking', ...at, ...withSecrets, AT_DELIVERY_REPORT_SECRET: 'd'.repeat(24) }),
      ).toEqual([]);
      expect(problems({ AT_DELIVERY_REPORT_SECRET: 'short' })[0]).toMatch(/^AT_DELIVERY_REPORT_SECRET: /);
    });

    it('a provider on loopback (the local simulators) is not live', () => {
      expect(problems({ MPESA_BASE_URL: 'http://127.0.0.1:4010' })).toEqual([]);
      expect(problems({ MPESA_BASE_URL: 'http://localhost:4010', AT_BASE_URL: 'http://[::1]:4011' })).toEqual([]);
      expect(
        problems({
          SMS_PROVIDER: 'africastalking',
          AT_USERNAME: 'sandbox',
          AT_API_KEY: 'k',
          AT_BASE_URL: 'http://127.0.0.1:4011',
        }),
      ).toEqual([]);
      // Unset is not live either: the simulators process in development, Africa's Talking's own
      // address elsewhere (used only with SMS_PROVIDER=africastalking, which then needs the secrets).
      expect(problems({})).toEqual([]);
      expect(buildConfig(parseEnv({})).sms.africasTalking.baseUrl).toBe('http://127.0.0.1:8383');
      expect(buildConfig(parseEnv({ NODE_ENV: 'test' })).sms.africasTalking.baseUrl).toBe(
        'https://api.africastalking.com',
      );
    });
  });

  it('refuses weak secrets', () => {
    expect(problems({ JWT_SECRET: 'short' })).toEqual(['JWT_SECRET: must be at least 32 characters']);
    expect(problems({ ADMIN_API_KEY: 'abc' })).toEqual(['ADMIN_API_KEY: must be at least 16 characters']);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ APP_ROLE: 'both' }, 'APP_ROLE'],
    [{ DATABASE_URL: 'mysql://x@y/z' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'not a url' }, 'REDIS_URL'],
    [{ REDIS_MODE: 'sentinel' }, 'REDIS_SENTINELS'],
    [{ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'nohostport' }, 'REDIS_CLUSTER_NODES'],
    [{ REDIS_KEY_PREFIX: 'has}brace' }, 'REDIS_KEY_PREFIX'],
    [{ DB_MIGRATIONS_RUN: 'maybe' }, 'DB_MIGRATIONS_RUN'],
    [{ PIN_MAX_ATTEMPTS: '0' }, 'PIN_MAX_ATTEMPTS'],
  ])('reports %p as a problem with %s', (env, name) => {
    const found = problems(env);
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((p) => p.startsWith(`${name}:`) || p.startsWith(`${name}.`))).toBe(true);
  });

  it('parses sentinel and cluster node lists', () => {
    const sentinel = buildConfig(parseEnv({ REDIS_MODE: 'sentinel', REDIS_SENTINELS: 'a:26379, b:26380' }));
    expect(sentinel.redis.sentinels).toEqual([
      { host: 'a', port: 26379 },
      { host: 'b', port: 26380 },
    ]);
    const cluster = buildConfig(parseEnv({ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: '10.0.0.1:7000' }));
    expect(cluster.redis.clusterNodes).toEqual([{ host: '10.0.0.1', port: 7000 }]);
  });

  it("reads TRUST_PROXY as a boolean or as the proxies' addresses", () => {
    expect(buildConfig(parseEnv({})).http.trustProxy).toBe(false);
    expect(buildConfig(parseEnv({ TRUST_PROXY: 'true' })).http.trustProxy).toBe(true);
    expect(buildConfig(parseEnv({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.7' })).http.trustProxy).toEqual([
      '10.0.0.0/8',
      '192.168.1.7',
    ]);
    expect(problems({ TRUST_PROXY: 'everyone' })).toHaveLength(1);
  });

  it('keeps a withdrawal with no verdict held for an operator unless told to give it back', () => {
    expect(buildConfig(parseEnv({})).mpesa.lastResort).toBe('hold');
    expect(buildConfig(parseEnv({ NODE_ENV: 'production', ...SECRETS })).mpesa.lastResort).toBe('hold');
    expect(buildConfig(parseEnv({ MPESA_RECONCILE_LAST_RESORT: 'release' })).mpesa.lastResort).toBe('release');
    expect(problems({ MPESA_RECONCILE_LAST_RESORT: 'refund' })).toEqual([
      expect.stringMatching(/^MPESA_RECONCILE_LAST_RESORT: /),
    ]);
  });

  it('keeps serving a moment after SIGTERM in production, for load balancers, and never past the shutdown timeout', () => {
    expect(buildConfig(parseEnv({})).http).toMatchObject({ shutdownTimeoutMs: 25_000, shutdownDrainDelayMs: 0 });
    expect(buildConfig(parseEnv({ NODE_ENV: 'production', ...SECRETS })).http).toMatchObject({
      shutdownTimeoutMs: 25_000,
      shutdownDrainDelayMs: 5_000,
    });
    expect(
      buildConfig(parseEnv({ NODE_ENV: 'production', ...SECRETS, SHUTDOWN_DRAIN_DELAY_MS: '0' })).http
        .shutdownDrainDelayMs,
    ).toBe(0);
    expect(buildConfig(parseEnv({ SHUTDOWN_DRAIN_DELAY_MS: '3000' })).http.shutdownDrainDelayMs).toBe(3_000);
    expect(problems({ SHUTDOWN_TIMEOUT_MS: '5000', SHUTDOWN_DRAIN_DELAY_MS: '5000' })).toEqual([
      'SHUTDOWN_DRAIN_DELAY_MS: must be less than SHUTDOWN_TIMEOUT_MS',
    ]);
  });

  it('treats empty strings as unset', () => {
    expect(buildConfig(parseEnv({ PORT: '', ADMIN_API_KEY: '' })).http.port).toBe(5000);
  });

  it('is documented variable for variable in .env.example', () => {
    const example = readFileSync('.env.example', 'utf8');
    const documented = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    const schema = new Set(Object.keys(envSchema.shape).filter((k) => k !== 'PATH'));
    expect([...schema].filter((k) => !documented.has(k))).toEqual([]);
    expect([...documented].filter((k) => !schema.has(k))).toEqual([]);
  });

  it('says in .env.example what each variable is, in a comment right above it', () => {
    const lines = readFileSync('.env.example', 'utf8').split('\n');
    const variable = /^#?\s*([A-Z][A-Z0-9_]+)=/;
    const uncommented = lines.flatMap((line, i) => {
      const name = variable.exec(line)?.[1];
      const above = lines[i - 1] ?? '';
      return name && !(above.startsWith('#') && !variable.test(above)) ? [name] : [];
    });
    expect(uncommented).toEqual([]);
  });
});
