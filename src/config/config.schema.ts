import { z } from 'zod';
import { isLoopbackHost } from '../common/ip-allowlist.js';
import { demoProblems } from './demo.js';

/**
 * Every environment variable Deni reads, validated once at start-up.
 * `.env.example` documents the same list; a test keeps the two in step.
 */
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const hostPort = z
  .string()
  .regex(/^[^\s:,]+:\d{1,5}$/, 'expected host:port')
  .transform((s) => {
    const i = s.lastIndexOf(':');
    return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
  });

/** Comma-separated addresses or CIDR ranges, e.g. 196.201.214.0/24,::1/128. */
const cidrList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'expected an address or CIDR')));

const httpUrl = z.url({ protocol: /^https?$/ });

const shortcode = z.string().regex(/^\d{5,7}$/, 'a shortcode of 5 to 7 digits, like 174379');

const hostPortList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(hostPort).min(1));

export const SECRET_VARIABLES = ['ADMIN_API_KEY', 'JWT_SECRET', 'PIN_PEPPER'] as const;

/** What production needs to reach the real Daraja and to receive its callbacks safely. */
export const MPESA_PRODUCTION_VARIABLES = [
  'MPESA_BASE_URL',
  'SAFARICOM_CONSUMER_KEY',
  'SAFARICOM_CONSUMER_SECRET',
  'MPESA_PASSKEY',
  'MPESA_INITIATOR_NAME',
  'MPESA_INITIATOR_PASSWORD',
  'MPESA_CERT_PATH',
  'MPESA_CALLBACK_BASE_URL',
  'MPESA_CALLBACK_SECRET',
  // Callbacks are unsigned and the secret travels in a URL path (proxy logs): Safaricom's
  // published address ranges must be the only callers.
  'MPESA_CALLBACK_ALLOWED_IPS',
] as const;

export const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    APP_ROLE: z.enum(['api', 'worker', 'all']).default('all'),
    PORT: int(1, 65535).default(5000),
    /** Unset: every interface in production (containers), loopback elsewhere (see listenHost). */
    HOST: z.string().min(1).optional(),
    HTTP_BODY_LIMIT: int(1024, 10 * 1024 * 1024).default(64 * 1024),
    // true trusts every hop, so the client's own X-Forwarded-For decides request.ip (and with it
    // every address allowlist): prefer the load balancers' addresses.
    TRUST_PROXY: z.union([bool, cidrList]).default(false),
    SHUTDOWN_TIMEOUT_MS: int(1000, 120_000).default(25_000),
    /**
     * On SIGTERM, how long an HTTP process keeps serving while its readiness fails, so that load
     * balancers stop sending to it before it stops accepting connections (unset: 5 s in
     * production, none elsewhere). Part of SHUTDOWN_TIMEOUT_MS.
     */
    SHUTDOWN_DRAIN_DELAY_MS: int(0, 120_000).optional(),

    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgres://postgres@127.0.0.1:5432/deni'),
    DB_MIGRATIONS_RUN: bool.default(true),
    DB_CREATE_IF_MISSING: bool.default(true),
    DB_POOL_SIZE: int(1, 200).default(10),
    DB_STATEMENT_TIMEOUT_MS: int(100, 600_000).default(15_000),
    DB_CONNECT_TIMEOUT_MS: int(100, 60_000).default(3_000),
    DB_PING_INTERVAL_MS: int(100, 60_000).default(1_000),
    DB_PING_TIMEOUT_MS: int(100, 60_000).default(1_000),
    DB_PROBE_INTERVAL_MS: int(100, 60_000).default(1_000),

    REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
    REDIS_MODE: z.enum(['standalone', 'sentinel', 'cluster']).default('standalone'),
    REDIS_SENTINELS: hostPortList.optional(),
    REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
    REDIS_CLUSTER_NODES: hostPortList.optional(),
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,40}$/, 'letters, digits, _ . - only (it becomes a hash tag)')
      .default('deni'),

    REDIS_COMMAND_TIMEOUT_MS: int(100, 60_000).default(1_500),

    LOCAL_SERVICES: bool.optional(),
    LOCAL_DATA_DIR: z.string().min(1).default('.data'),
    LOCAL_INSTALL_REDIS: bool.default(true),
    /** Where redis-server is looked for; the process's own PATH. */
    PATH: z.string().optional(),

    ADMIN_API_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
    JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    JWT_TTL_SECONDS: int(60, 86_400).default(900),
    PIN_PEPPER: z.string().min(32, 'must be at least 32 characters').optional(),
    PIN_MAX_ATTEMPTS: int(1, 10).default(3),
    PIN_LOCK_MINUTES: int(1, 24 * 60).default(30),

    LOAN_MIN_AMOUNT: int(1, 1_000_000).default(100),
    LOAN_MAX_AMOUNT: int(100, 10_000_000).default(250_000),
    LOAN_MAX_PENDING: int(1, 100).default(5),
    /** Distinct numbers whose name one subscriber may look up per day (Nairobi), e.g. on the loan request's confirm screen. */
    NAME_LOOKUPS_PER_DAY: int(1, 1_000).default(20),
    /** How long a request waits for the lender: seconds, or with a unit (90m, 72h, 3d). */
    LOAN_REQUEST_TTL: z
      .string()
      .regex(/^\d+(s|m|h|d)?$/, 'a duration like 3600, 90m, 72h or 3d')
      .transform((v) => {
        const n = Number.parseInt(v, 10);
        const unit = v.replace(/^\d+/, '') || 's';
        return n * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit as 's' | 'm' | 'h' | 'd'];
      })
      .pipe(z.number().int().min(1_000, 'at least 1 second'))
      .default(72 * 3_600_000),
    LOAN_EXPIRY_SWEEP_MS: int(1_000, 86_400_000).default(600_000),

    OTP_TTL_SECONDS: int(30, 3600).default(300),
    OTP_MAX_ATTEMPTS: int(1, 10).default(3),
    OTP_MAX_PER_HOUR: int(1, 100).default(3),

    /** The USSD code subscribers dial (the seed's name). */
    SAFARICOM_USSD_CODE: z
      .string()
      .regex(/^\*\d+(\*\d+)*#$/, 'a USSD code like *383#')
      .default('*383#'),
    USSD_MAX_CHARS: int(60, 182).default(160),
    USSD_SESSION_TTL_SECONDS: int(30, 600).default(180),
    USSD_RESUME_SECONDS: int(0, 3600).default(300),
    USSD_RATE_LIMIT_PER_MINUTE: int(1, 1000).default(30),
    USSD_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    /** CIDR list of gateway addresses allowed to call the webhook, e.g. 196.201.214.0/24,::1/128. */
    USSD_ALLOWED_IPS: cidrList.optional(),
    USSD_TEST_ENDPOINT: bool.optional(),
    /** The phone simulator page (/simulator) and its dev routes: on outside production, off in production unless true. */
    SIMULATOR_ENABLED: bool.optional(),
    /** The Daraja and Africa's Talking simulators process (`npm run simulators`): its port (0: a free one), address and state directory. */
    SIMULATOR_PORT: int(0, 65535).default(8383),
    /** Where the simulators process posts Africa's Talking delivery reports (Deni's route, with its secret). Unset: none. */
    SIMULATOR_AT_DELIVERY_REPORT_URL: httpUrl.optional(),
    SIMULATOR_HOST: z.string().min(1).default('127.0.0.1'),
    SIMULATOR_DATA_DIR: z.string().min(1).default('.data/simulators'),
    USSD_DB_DEADLINE_MS: int(100, 10_000).default(1_000),
    USSD_SNAPSHOT_TTL_HOURS: int(1, 2_160).default(168),
    USSD_SNAPSHOT_REFRESH_SECONDS: int(0, 3_600).default(15),
    OFFLINE_RETRY_HOURS: int(1, 168).default(24),
    OFFLINE_RETRY_FIRST_DELAY_MS: int(100, 600_000).default(5_000),
    OFFLINE_RETRY_MAX_DELAY_MS: int(1_000, 86_400_000).default(1_800_000),

    /** Who sends the outbox's SMS: `log` (kept in the outbox, nothing sent) or `africastalking`. */
    SMS_PROVIDER: z.enum(['log', 'africastalking']).default('log'),
    /** Unset: Africa's Talking itself (AT_DEFAULT_BASE_URL), or in development the simulators process.
     * Optional so that only a URL someone chose counts as live (productionRules). */
    AT_BASE_URL: httpUrl.optional(),
    AT_USERNAME: z.string().min(1).optional(),
    AT_API_KEY: z.string().min(1).optional(),
    AT_SENDER_ID: z.string().min(1).max(16).optional(),
    AT_TIMEOUT_MS: int(100, 120_000).default(10_000),
    /** Carried as `?secret=` by the delivery-report URL set in Africa's Talking's dashboard (reports are unsigned). */
    AT_DELIVERY_REPORT_SECRET: z
      .string()
      .min(16, 'must be at least 16 characters')
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only (it travels in a URL)')
      .optional(),
    AT_DELIVERY_REPORT_ALLOWED_IPS: cidrList.optional(),
    NOTIFICATIONS_MAX_ATTEMPTS: int(1, 50).default(8),
    NOTIFICATIONS_BACKOFF_MS: int(100, 3_600_000).default(5_000),
    NOTIFICATIONS_RELAY_INTERVAL_MS: int(1_000, 3_600_000).default(5_000),
    NOTIFICATIONS_RELAY_AGE_MS: int(1_000, 3_600_000).default(15_000),
    /** Added to AT_TIMEOUT_MS to make the lease of a send: the time to record the answer once it came. */
    NOTIFICATIONS_LEASE_MARGIN_MS: int(100, 600_000).default(5_000),

    /**
     * Daraja (Safaricom M-PESA). Unset: the simulators process in development (SIMULATOR_PORT);
     * required anywhere else, as Deni never runs a simulator itself (requireMpesaBaseUrl).
     */
    MPESA_BASE_URL: httpUrl.optional(),
    /** The seed's names for the Daraja app's credentials. */
    SAFARICOM_CONSUMER_KEY: z.string().min(1).optional(),
    SAFARICOM_CONSUMER_SECRET: z.string().min(1).optional(),
    MPESA_SHORTCODE: shortcode.default('174379'),
    MPESA_PASSKEY: z.string().min(1).optional(),
    MPESA_TRANSACTION_TYPE: z
      .enum(['CustomerPayBillOnline', 'CustomerBuyGoodsOnline'])
      .default('CustomerPayBillOnline'),
    MPESA_B2C_SHORTCODE: shortcode.default('600000'),
    MPESA_INITIATOR_NAME: z.string().min(1).optional(),
    MPESA_INITIATOR_PASSWORD: z.string().min(1).optional(),
    MPESA_CERT_PATH: z.string().min(1).optional(),
    MPESA_CALLBACK_BASE_URL: httpUrl.optional(),
    MPESA_CALLBACK_SECRET: z
      .string()
      .min(16, 'must be at least 16 characters')
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only (it is a URL path segment)')
      .optional(),
    MPESA_CALLBACK_ALLOWED_IPS: cidrList.optional(),
    MPESA_TIMEOUT_MS: int(100, 120_000).default(10_000),
    MPESA_RECONCILE_AFTER_MS: int(1_000, 86_400_000).default(180_000),
    /** Paybill confirmations credited only once Transaction Status confirms them (production default: on). */
    MPESA_C2B_VERIFY: bool.optional(),
    /**
     * A withdrawal with no result this long after its acknowledgement (or request), and asked about
     * by Transaction Status with no verdict, goes to the last resort (default 24 h). Never without
     * the question.
     */
    MPESA_RECONCILE_MAX_AGE_MS: int(1_000, 30 * 86_400_000).default(86_400_000),
    /**
     * What that last resort does: `hold` keeps the money held and flags the withdrawal until an
     * operator resolves it from the M-PESA statement; `release` gives it back, flagged (a payment
     * M-PESA did make is then paid twice until corrected).
     */
    MPESA_RECONCILE_LAST_RESORT: z.enum(['hold', 'release']).default('hold'),

    /**
     * The demo stack (docker-compose.yml's `demo` profile): M-PESA and SMS go to the simulators
     * service, with its development credentials only; production's other rules still apply.
     */
    DENI_DEMO: bool.default(false),

    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    const required = (name: string, why: string, extra = '') =>
      ctx.addIssue({ code: 'custom', path: [name], message: `required when ${why}${extra}` });
    const why = productionRules(env)[0];
    if (why) {
      for (const name of SECRET_VARIABLES) if (!env[name]) required(name, why);
      // Gateways do not sign requests: an open webhook would let anyone act as any phone.
      if (!env.USSD_WEBHOOK_SECRET && !env.USSD_ALLOWED_IPS)
        required('USSD_WEBHOOK_SECRET', why, ' (or set USSD_ALLOWED_IPS)');
    }
    if (env.DENI_DEMO) {
      for (const problem of demoProblems(env)) {
        ctx.addIssue({ code: 'custom', path: [problem.variable], message: problem.message });
      }
    }
    // The demo's Daraja is the simulators service (demoProblems): its rules replace the real Daraja's.
    const mpesaWhy = env.DENI_DEMO
      ? undefined
      : env.NODE_ENV === 'production'
        ? 'NODE_ENV=production'
        : liveReason(env, 'MPESA_BASE_URL');
    if (mpesaWhy) {
      // The real Daraja (production, or any live host): no simulator, no sandbox defaults.
      for (const name of MPESA_PRODUCTION_VARIABLES) if (!env[name]) required(name, mpesaWhy);
      for (const name of ['MPESA_BASE_URL', 'MPESA_CALLBACK_BASE_URL'] as const) {
        if (env[name] && !env[name].startsWith('https://')) {
          ctx.addIssue({ code: 'custom', path: [name], message: `must be an https:// URL when ${mpesaWhy}` });
        }
      }
    } else if (why && !env.MPESA_CALLBACK_SECRET) {
      // The simulated Daraja, on a reachable process: the development callback secret is public,
      // and a callback with it could credit any wallet.
      required('MPESA_CALLBACK_SECRET', why);
    }
    if (env.MPESA_RECONCILE_MAX_AGE_MS <= env.MPESA_RECONCILE_AFTER_MS) {
      // Reconciliation must get to ask M-PESA at least once before it gives up.
      ctx.addIssue({
        code: 'custom',
        path: ['MPESA_RECONCILE_MAX_AGE_MS'],
        message: 'must be greater than MPESA_RECONCILE_AFTER_MS',
      });
    }
    if (env.SHUTDOWN_DRAIN_DELAY_MS !== undefined && env.SHUTDOWN_DRAIN_DELAY_MS >= env.SHUTDOWN_TIMEOUT_MS) {
      // The delay is part of the shutdown: none would be left to finish requests and jobs.
      ctx.addIssue({
        code: 'custom',
        path: ['SHUTDOWN_DRAIN_DELAY_MS'],
        message: 'must be less than SHUTDOWN_TIMEOUT_MS',
      });
    }
    if (env.REDIS_MODE === 'sentinel' && !env.REDIS_SENTINELS) {
      ctx.addIssue({ code: 'custom', path: ['REDIS_SENTINELS'], message: 'required when REDIS_MODE=sentinel' });
    }
    if (env.REDIS_MODE === 'cluster' && !env.REDIS_CLUSTER_NODES) {
      ctx.addIssue({ code: 'custom', path: ['REDIS_CLUSTER_NODES'], message: 'required when REDIS_MODE=cluster' });
    }
    if (env.SMS_PROVIDER === 'africastalking') {
      for (const name of ['AT_USERNAME', 'AT_API_KEY'] as const) {
        if (!env[name])
          ctx.addIssue({ code: 'custom', path: [name], message: 'required when SMS_PROVIDER=africastalking' });
      }
      // Delivery reports are unsigned: on a reachable process the development secret (public)
      // would let anyone mark messages delivered or failed.
      if (why && !env.AT_DELIVERY_REPORT_SECRET) required('AT_DELIVERY_REPORT_SECRET', why);
    }
  });

export type Env = z.infer<typeof envSchema>;

/** Africa's Talking's live API, the SMS provider's base URL when AT_BASE_URL is unset. */
export const AT_DEFAULT_BASE_URL = 'https://api.africastalking.com';

type RuleInput = Pick<Env, 'NODE_ENV' | 'HOST' | 'MPESA_BASE_URL' | 'AT_BASE_URL' | 'SMS_PROVIDER'>;

/** The address the HTTP server binds: HOST, else every interface in production and loopback elsewhere. */
export function listenHost(env: Pick<Env, 'NODE_ENV' | 'HOST'>): string {
  return env.HOST ?? (env.NODE_ENV === 'production' ? '0.0.0.0' : '127.0.0.1');
}

function liveReason(env: RuleInput, name: 'MPESA_BASE_URL' | 'AT_BASE_URL'): string | undefined {
  const url = env[name];
  if (!url) return undefined;
  const host = URL.parse(url)?.hostname ?? url;
  return isLoopbackHost(host) ? undefined : `${name} is live (${host}, not loopback)`;
}

/**
 * Why production's rules (its secrets, and its M-PESA settings where Daraja is live) apply to this
 * environment, most important first; empty when they do not. They apply in production, when the
 * process listens on anything but loopback (others can reach it), and when a provider is live: a
 * non-loopback MPESA_BASE_URL or AT_BASE_URL, or SMS sent through Africa's Talking anywhere but a
 * loopback simulator. Live providers move real money and send real SMS, whatever NODE_ENV says.
 */
export function productionRules(env: RuleInput): string[] {
  const reasons: string[] = [];
  if (env.NODE_ENV === 'production') reasons.push('NODE_ENV=production');
  const host = listenHost(env);
  if (!isLoopbackHost(host)) reasons.push(`HOST is ${host} (not loopback)`);
  const mpesa = liveReason(env, 'MPESA_BASE_URL');
  if (mpesa) reasons.push(mpesa);
  const atUrl = env.AT_BASE_URL ?? AT_DEFAULT_BASE_URL;
  const atHost = URL.parse(atUrl)?.hostname ?? atUrl;
  if (env.SMS_PROVIDER === 'africastalking' && !isLoopbackHost(atHost)) {
    reasons.push(`SMS_PROVIDER=africastalking (${atHost}, not loopback)`);
  } else {
    const at = liveReason(env, 'AT_BASE_URL');
    if (at) reasons.push(at);
  }
  return reasons;
}
