import { existsSync } from 'node:fs';
import { AT_DEFAULT_BASE_URL, envSchema, listenHost, productionRules, type Env } from './config.schema.js';
import { MPESA_DEVELOPMENT_DEFAULTS } from './simulator-credentials.js';

export type AppRole = Env['APP_ROLE'];

export interface RedisConfig {
  url: string;
  mode: Env['REDIS_MODE'];
  sentinels?: { host: string; port: number }[];
  sentinelName: string;
  clusterNodes?: { host: string; port: number }[];
  /** Prefix of Deni's own keys (`deni:`) and, as a hash tag, of BullMQ's (`{deni}`). */
  keyPrefix: string;
  commandTimeoutMs: number;
}

export interface AppConfig {
  env: Env['NODE_ENV'];
  isProduction: boolean;
  /**
   * Why production's rules apply (NODE_ENV=production, a non-loopback HOST, a live provider),
   * most important first; empty for a development process only this machine can reach.
   */
  productionRules: string[];
  /** DENI_DEMO: M-PESA and SMS go to the demo's simulators service (demo.ts), said loudly at boot. */
  demo: boolean;
  role: AppRole;
  http: {
    port: number;
    host: string;
    bodyLimit: number;
    trustProxy: boolean | string[];
    shutdownTimeoutMs: number;
    /** On SIGTERM, how long to keep serving with readiness failing before closing (docs/deployment.md). */
    shutdownDrainDelayMs: number;
  };
  database: {
    url: string;
    migrationsRun: boolean;
    createIfMissing: boolean;
    poolSize: number;
    statementTimeoutMs: number;
    connectTimeoutMs: number;
    /** The database circuit breaker (DatabaseAvailability): ping while closed, probe while open. */
    pingIntervalMs: number;
    pingTimeoutMs: number;
    probeIntervalMs: number;
  };
  redis: RedisConfig;
  localServices: { enabled: boolean; dataDir: string; installRedis: boolean; searchPath?: string };
  security: {
    adminApiKey?: string;
    jwtSecret: string;
    jwtTtlSeconds: number;
    pinPepper: string;
    /** True when a development default stands in for a missing secret. */
    devSecrets: string[];
  };
  pin: { maxAttempts: number; lockMinutes: number };
  loans: {
    minAmount: number;
    maxAmount: number;
    maxPending: number;
    requestTtlMs: number;
    expirySweepMs: number;
    /** Distinct numbers whose name one subscriber may look up per Nairobi day. */
    nameLookupsPerDay: number;
  };
  otp: { ttlSeconds: number; maxAttempts: number; maxPerHour: number };
  ussd: {
    serviceCode: string;
    maxChars: number;
    sessionTtlSeconds: number;
    resumeSeconds: number;
    rateLimitPerMinute: number;
    webhookSecret?: string;
    allowedIps?: string[];
    testEndpoint: boolean;
    /** How long a request waits on PostgreSQL before answering from Redis instead. */
    dbDeadlineMs: number;
    snapshotTtlHours: number;
    snapshotRefreshSeconds: number;
  };
  /** The USSD offline queue: writes accepted while PostgreSQL was down. */
  offline: { retryHours: number; firstDelayMs: number; maxDelayMs: number };
  sms: {
    provider: Env['SMS_PROVIDER'];
    /** Africa's Talking; username and apiKey are set whenever provider is `africastalking`. */
    africasTalking: { baseUrl: string; username?: string; apiKey?: string; senderId?: string; timeoutMs: number };
    /** Africa's Talking delivery reports: the `?secret=` their URL carries, and who may post them. */
    deliveryReports: { secret: string; allowedIps?: string[] };
  };
  notifications: {
    maxAttempts: number;
    backoffMs: number;
    relayIntervalMs: number;
    relayAgeMs: number;
    /**
     * How long a worker holds an outbox row it took: the longest a send may take (the provider's
     * timeout) plus NOTIFICATIONS_LEASE_MARGIN_MS. Past it, the relay takes the row up again.
     */
    sendLeaseMs: number;
  };
  mpesa: MpesaConfig;
  /** The phone simulator page at /simulator with its dev-only routes (SMS outbox, M-PESA outcomes). */
  simulator: { enabled: boolean };
  /**
   * The Daraja and Africa's Talking simulators process (`npm run simulators`). `alongside`: Deni
   * in development with no MPESA_BASE_URL, so `npm start` uses (and starts, when nothing answers
   * on its port) the simulators on 127.0.0.1:port.
   */
  simulators: {
    host: string;
    port: number;
    dataDir: string;
    alongside: boolean;
    /** Where the simulators Deni starts (or finds) post Africa's Talking delivery reports: Deni's own route by default. */
    atDeliveryReportUrl: string;
  };
  log: { level: Env['LOG_LEVEL'] };
}

/** Daraja (Safaricom M-PESA): credentials, shortcodes and callback settings. */
export interface MpesaConfig {
  /** Daraja's base URL; undefined (never in production) means the local simulator. */
  baseUrl?: string;
  consumerKey: string;
  consumerSecret: string;
  /** STK push (Lipa na M-PESA Online) shortcode and its passkey. */
  shortcode: string;
  passkey: string;
  transactionType: Env['MPESA_TRANSACTION_TYPE'];
  b2cShortcode: string;
  initiatorName: string;
  initiatorPassword: string;
  /** Safaricom's certificate (PEM) that encrypts the initiator password; unset: the simulator's. */
  certPath?: string;
  /** With no certPath, the certificate comes from the simulator: outside production, and in the demo. */
  simulatorCertificate: boolean;
  /** Public base URL Daraja calls back, e.g. https://deni.example.com. */
  callbackBaseUrl: string;
  /** A path segment of every callback URL: Daraja does not sign callbacks. */
  callbackSecret: string;
  callbackAllowedIps?: string[];
  timeoutMs: number;
  /** A request with no callback after this long is queried: STK query, or Transaction Status for B2C. */
  reconcileAfterMs: number;
  /**
   * A withdrawal (B2C) still without an outcome this long after its acknowledgement (or request,
   * if never acknowledged), with Transaction Status asked and no verdict: the last resort
   * (`lastResort`) flags it for an operator (needs_review). A request never acknowledged is re-sent
   * until then, and Transaction Status asked about it first.
   */
  reconcileMaxAgeMs: number;
  /**
   * What the last resort does with the money: `hold` keeps it held until an operator resolves the
   * withdrawal from the M-PESA statement; `release` gives it back to the wallet, the payment
   * recorded failed (paid twice if M-PESA did pay).
   */
  lastResort: 'hold' | 'release';
  /**
   * A paybill (C2B) confirmation is credited only once a Transaction Status answer confirms its
   * TransID and amount (on in production unless turned off; off elsewhere unless turned on).
   */
  c2bVerify: boolean;
}

export { AT_SIMULATOR_CREDENTIALS, MPESA_DEVELOPMENT_DEFAULTS } from './simulator-credentials.js';

/** The delivery-report secret where production rules do not apply (public, like the one above). */
export const AT_DEVELOPMENT_DELIVERY_REPORT_SECRET = 'deni-development-at-delivery-reports';

export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigValidationError';
  }
}

// Used only outside production, so a developer can start with no .env at all.
const DEV_JWT_SECRET = 'deni-development-jwt-secret-not-for-production';
const DEV_PIN_PEPPER = 'deni-development-pin-pepper-not-for-production';

export function parseEnv(raw: Record<string, string | undefined>): Env {
  // Empty strings mean "unset": docker-compose and shells pass `FOO=` for blanks.
  const cleaned = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigValidationError(result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  return result.data;
}

export function buildConfig(env: Env): AppConfig {
  // Development with no Daraja configured talks to the simulators process, as it would to Daraja.
  const alongside = env.NODE_ENV === 'development' && !env.MPESA_BASE_URL;
  const devSecrets: string[] = [];
  if (!env.JWT_SECRET) devSecrets.push('JWT_SECRET');
  if (!env.PIN_PEPPER) devSecrets.push('PIN_PEPPER');
  return {
    env: env.NODE_ENV,
    isProduction: env.NODE_ENV === 'production',
    productionRules: productionRules(env),
    demo: env.DENI_DEMO,
    role: env.APP_ROLE,
    http: {
      port: env.PORT,
      host: listenHost(env),
      bodyLimit: env.HTTP_BODY_LIMIT,
      trustProxy: env.TRUST_PROXY,
      shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
      // Behind a load balancer (production) it needs a moment to see readiness fail; elsewhere none is waited for.
      shutdownDrainDelayMs: env.SHUTDOWN_DRAIN_DELAY_MS ?? (env.NODE_ENV === 'production' ? 5_000 : 0),
    },
    database: {
      url: env.DATABASE_URL,
      migrationsRun: env.DB_MIGRATIONS_RUN,
      createIfMissing: env.DB_CREATE_IF_MISSING,
      poolSize: env.DB_POOL_SIZE,
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
      connectTimeoutMs: env.DB_CONNECT_TIMEOUT_MS,
      pingIntervalMs: env.DB_PING_INTERVAL_MS,
      pingTimeoutMs: env.DB_PING_TIMEOUT_MS,
      probeIntervalMs: env.DB_PROBE_INTERVAL_MS,
    },
    redis: {
      url: env.REDIS_URL,
      mode: env.REDIS_MODE,
      sentinels: env.REDIS_SENTINELS,
      sentinelName: env.REDIS_SENTINEL_NAME,
      clusterNodes: env.REDIS_CLUSTER_NODES,
      keyPrefix: env.REDIS_KEY_PREFIX,
      commandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS,
    },
    localServices: {
      // Starting servers on the host is a convenience for development, never a production behaviour.
      enabled: env.LOCAL_SERVICES ?? env.NODE_ENV !== 'production',
      dataDir: env.LOCAL_DATA_DIR,
      installRedis: env.LOCAL_INSTALL_REDIS,
      searchPath: env.PATH,
    },
    security: {
      adminApiKey: env.ADMIN_API_KEY,
      jwtSecret: env.JWT_SECRET ?? DEV_JWT_SECRET,
      jwtTtlSeconds: env.JWT_TTL_SECONDS,
      pinPepper: env.PIN_PEPPER ?? DEV_PIN_PEPPER,
      devSecrets,
    },
    pin: { maxAttempts: env.PIN_MAX_ATTEMPTS, lockMinutes: env.PIN_LOCK_MINUTES },
    loans: {
      minAmount: env.LOAN_MIN_AMOUNT,
      maxAmount: env.LOAN_MAX_AMOUNT,
      maxPending: env.LOAN_MAX_PENDING,
      requestTtlMs: env.LOAN_REQUEST_TTL,
      expirySweepMs: env.LOAN_EXPIRY_SWEEP_MS,
      nameLookupsPerDay: env.NAME_LOOKUPS_PER_DAY,
    },
    ussd: {
      serviceCode: env.SAFARICOM_USSD_CODE,
      maxChars: env.USSD_MAX_CHARS,
      sessionTtlSeconds: env.USSD_SESSION_TTL_SECONDS,
      resumeSeconds: env.USSD_RESUME_SECONDS,
      rateLimitPerMinute: env.USSD_RATE_LIMIT_PER_MINUTE,
      webhookSecret: env.USSD_WEBHOOK_SECRET,
      allowedIps: env.USSD_ALLOWED_IPS,
      // The seed's test endpoint: on outside production, off in production unless asked for.
      testEndpoint: env.USSD_TEST_ENDPOINT ?? env.NODE_ENV !== 'production',
      dbDeadlineMs: env.USSD_DB_DEADLINE_MS,
      snapshotTtlHours: env.USSD_SNAPSHOT_TTL_HOURS,
      snapshotRefreshSeconds: env.USSD_SNAPSHOT_REFRESH_SECONDS,
    },
    offline: {
      retryHours: env.OFFLINE_RETRY_HOURS,
      firstDelayMs: env.OFFLINE_RETRY_FIRST_DELAY_MS,
      maxDelayMs: env.OFFLINE_RETRY_MAX_DELAY_MS,
    },
    otp: { ttlSeconds: env.OTP_TTL_SECONDS, maxAttempts: env.OTP_MAX_ATTEMPTS, maxPerHour: env.OTP_MAX_PER_HOUR },
    sms: {
      provider: env.SMS_PROVIDER,
      africasTalking: {
        baseUrl: (
          env.AT_BASE_URL ?? (alongside ? `http://127.0.0.1:${env.SIMULATOR_PORT}` : AT_DEFAULT_BASE_URL)
        ).replace(/\/+$/, ''),
        username: env.AT_USERNAME,
        apiKey: env.AT_API_KEY,
        senderId: env.AT_SENDER_ID,
        timeoutMs: env.AT_TIMEOUT_MS,
      },
      deliveryReports: {
        secret: env.AT_DELIVERY_REPORT_SECRET ?? AT_DEVELOPMENT_DELIVERY_REPORT_SECRET,
        allowedIps: env.AT_DELIVERY_REPORT_ALLOWED_IPS,
      },
    },
    notifications: {
      maxAttempts: env.NOTIFICATIONS_MAX_ATTEMPTS,
      backoffMs: env.NOTIFICATIONS_BACKOFF_MS,
      relayIntervalMs: env.NOTIFICATIONS_RELAY_INTERVAL_MS,
      relayAgeMs: env.NOTIFICATIONS_RELAY_AGE_MS,
      sendLeaseMs: env.AT_TIMEOUT_MS + env.NOTIFICATIONS_LEASE_MARGIN_MS,
    },
    mpesa: {
      baseUrl: (env.MPESA_BASE_URL ?? (alongside ? `http://127.0.0.1:${env.SIMULATOR_PORT}` : undefined))?.replace(
        /\/+$/,
        '',
      ),
      consumerKey: env.SAFARICOM_CONSUMER_KEY ?? MPESA_DEVELOPMENT_DEFAULTS.consumerKey,
      consumerSecret: env.SAFARICOM_CONSUMER_SECRET ?? MPESA_DEVELOPMENT_DEFAULTS.consumerSecret,
      shortcode: env.MPESA_SHORTCODE,
      passkey: env.MPESA_PASSKEY ?? MPESA_DEVELOPMENT_DEFAULTS.passkey,
      transactionType: env.MPESA_TRANSACTION_TYPE,
      b2cShortcode: env.MPESA_B2C_SHORTCODE,
      initiatorName: env.MPESA_INITIATOR_NAME ?? MPESA_DEVELOPMENT_DEFAULTS.initiatorName,
      initiatorPassword: env.MPESA_INITIATOR_PASSWORD ?? MPESA_DEVELOPMENT_DEFAULTS.initiatorPassword,
      certPath: env.MPESA_CERT_PATH,
      simulatorCertificate: env.NODE_ENV !== 'production' || env.DENI_DEMO,
      callbackBaseUrl: (env.MPESA_CALLBACK_BASE_URL ?? `http://127.0.0.1:${env.PORT}`).replace(/\/+$/, ''),
      callbackSecret: env.MPESA_CALLBACK_SECRET ?? MPESA_DEVELOPMENT_DEFAULTS.callbackSecret,
      callbackAllowedIps: env.MPESA_CALLBACK_ALLOWED_IPS,
      timeoutMs: env.MPESA_TIMEOUT_MS,
      reconcileAfterMs: env.MPESA_RECONCILE_AFTER_MS,
      reconcileMaxAgeMs: env.MPESA_RECONCILE_MAX_AGE_MS,
      lastResort: env.MPESA_RECONCILE_LAST_RESORT,
      c2bVerify: env.MPESA_C2B_VERIFY ?? env.NODE_ENV === 'production',
    },
    // A development tool: on outside production, off in production unless asked for.
    simulator: { enabled: env.SIMULATOR_ENABLED ?? env.NODE_ENV !== 'production' },
    simulators: {
      host: env.SIMULATOR_HOST,
      port: env.SIMULATOR_PORT,
      dataDir: env.SIMULATOR_DATA_DIR,
      alongside,
      atDeliveryReportUrl:
        env.SIMULATOR_AT_DELIVERY_REPORT_URL ??
        `http://127.0.0.1:${env.PORT}/api/sms/delivery-reports/africastalking?secret=${env.AT_DELIVERY_REPORT_SECRET ?? AT_DEVELOPMENT_DELIVERY_REPORT_SECRET}`,
    },
    log: { level: env.LOG_LEVEL },
  };
}

/**
 * Where Daraja is. Deni never starts one of its own: in development with no MPESA_BASE_URL it is
 * the simulators process (`simulators.alongside`); anywhere else MPESA_BASE_URL must say
 * (production's rules require it; tests point it at simulators of their own). Checked when an
 * application is built rather than in the schema, so that tools reading only the database or
 * Redis settings in tests need not name a Daraja. Throws ConfigValidationError naming the variable.
 */
export function requireMpesaBaseUrl(mpesa: Pick<MpesaConfig, 'baseUrl'>): string {
  if (mpesa.baseUrl) return mpesa.baseUrl;
  throw new ConfigValidationError([
    'MPESA_BASE_URL: required outside development (Deni runs no Daraja simulator inside itself: set it to Daraja, or to the simulators process, npm run simulators)',
  ]);
}

/**
 * The start-up validation of a process's whole environment, every rule included (production's
 * required secrets and M-PESA settings among them). Throws ConfigValidationError naming each
 * variable at fault, on which the process refuses to start.
 */
export function configFromEnv(env: Record<string, string | undefined>): AppConfig {
  return buildConfig(parseEnv(env));
}

/**
 * The one place that reads `process.env` (after loading `.env` when present).
 * Pass `overrides` to derive a configuration for tests without touching the process environment.
 */
export function loadConfig(overrides: Record<string, string | undefined> = {}): AppConfig {
  if (existsSync('.env') && typeof process.loadEnvFile === 'function') {
    process.loadEnvFile('.env');
  }
  return configFromEnv({ ...process.env, ...overrides });
}

/** The simulators process's own settings (`npm run simulators`); it never runs in production. */
export function loadSimulatorsConfig(overrides: Record<string, string | undefined> = {}): {
  host: string;
  port: number;
  dataDir: string;
  logLevel: Env['LOG_LEVEL'];
  /** Where Africa's Talking delivery reports are posted; unset: nowhere. */
  atDeliveryReportUrl?: string;
} {
  if (existsSync('.env') && typeof process.loadEnvFile === 'function') process.loadEnvFile('.env');
  const raw = { ...process.env, ...overrides };
  if (raw.NODE_ENV === 'production') {
    throw new ConfigValidationError(['NODE_ENV: the simulators never run in production (set NODE_ENV=development)']);
  }
  const env = parseEnv(raw);
  return {
    host: env.SIMULATOR_HOST,
    port: env.SIMULATOR_PORT,
    dataDir: env.SIMULATOR_DATA_DIR,
    logLevel: env.LOG_LEVEL,
    atDeliveryReportUrl: env.SIMULATOR_AT_DELIVERY_REPORT_URL,
  };
}
