/**
 * How the run talks to Deni and to the simulators, as their callers would: a USSD gateway
 * (Africa's Talking's form posts), mobile clients (REST with bearer tokens and Idempotency-Key),
 * the operator (the admin key) and M-PESA itself (the simulators' paybill payments). Every request
 * is counted; every answer to the USSD gateway is checked to be a screen.
 */

/** What the gateway may show: `CON …` or `END …`, at most USSD_MAX_CHARS (160) after the prefix. */
const SCREEN = /^(CON|END) /;
const MAX_SCREEN_CHARS = 160;
/** A gateway gives up on an answer after a few seconds; so does the run. */
const TIMEOUT_MS = 10_000;
/** Deni's rate limit is 30 steps a minute per number: the run's subscribers stay under it. */
const STEPS_PER_MINUTE = 25;

export interface Answer {
  status: number;
  body: string;
  ms: number;
}

export interface UssdStats {
  steps: number;
  /** HTTP 5xx to the gateway: never allowed. */
  serverErrors: number;
  /** HTTP 200 with something the gateway cannot show: never allowed. */
  invalidScreens: number;
  /** No answer at all (the process was down or restarting). */
  unanswered: number;
  /** The slowest answer, and how many took longer than the 2 s Deni means to answer within. */
  slowestMs: number;
  over2s: number;
  /** Valid screens saying the service cannot help now, by text. */
  refusals: Record<string, number>;
  samples: string[];
}

export interface RestStats {
  requests: number;
  /** By status: 503 while PostgreSQL is away is the documented answer; anything else 5xx is not. */
  serverErrors: Record<string, number>;
  unanswered: number;
  samples: string[];
}

const REFUSALS: [RegExp, string][] = [
  [/temporarily unavailable/, 'unavailable (Redis)'],
  [/service is busy/, 'busy (no snapshot)'],
  [/needs the service to be back/, 'needs the service'],
  [/did not work/, 'generic error'],
  [/Too many requests/, 'rate limited'],
  [/M-PESA is not answering/, 'M-PESA unavailable'],
];

/** A private address for a phone: 10.x.y.z from its last digits. */
function addressOf(phone: string): string {
  const n = Number(phone.slice(-6));
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

export class Client {
  requests = 0;
  readonly ussdStats: UssdStats = {
    steps: 0,
    serverErrors: 0,
    invalidScreens: 0,
    unanswered: 0,
    slowestMs: 0,
    over2s: 0,
    refusals: {},
    samples: [],
  };
  readonly restStats: RestStats = { requests: 0, serverErrors: {}, unanswered: 0, samples: [] };
  /**
   * Subscribers told their PIN is locked. The run only ever types the right PIN, so each is a
   * subscriber locked out by something else than wrong guesses: never allowed.
   */
  readonly lockedOut = new Map<string, string>();
  private readonly recent = new Map<string, number[]>();
  private readonly tokens = new Map<string, string>();

  constructor(
    readonly apiUrl: string,
    readonly simulatorsUrl: string,
    private readonly secrets: { ussd: string; admin: string; callback: string },
    readonly pin: string,
  ) {}

  private sample(list: string[], line: string): void {
    if (list.length < 20) list.push(line);
  }

  private async send(url: string, init: RequestInit): Promise<Answer | null> {
    this.requests += 1;
    const started = Date.now();
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
      return { status: res.status, body: await res.text(), ms: Date.now() - started };
    } catch {
      return null;
    }
  }

  /** How many more steps this number may send in the coming minute. */
  stepsLeft(phone: string): number {
    const now = Date.now();
    return STEPS_PER_MINUTE - (this.recent.get(phone) ?? []).filter((t) => t > now - 60_000).length;
  }

  /** Waits while this number has sent as many steps in the last minute as Deni allows. */
  private async pace(phone: string): Promise<void> {
    for (;;) {
      const now = Date.now();
      const times = (this.recent.get(phone) ?? []).filter((t) => t > now - 60_000);
      if (times.length < STEPS_PER_MINUTE) {
        times.push(now);
        this.recent.set(phone, times);
        return;
      }
      await new Promise((r) => setTimeout(r, times[0] + 60_000 - now + 10));
    }
  }

  /** One USSD step as Africa's Talking sends it (the session's accumulated text); null: no answer. */
  async ussd(phone: string, sessionId: string, text: string): Promise<string | null> {
    await this.pace(phone);
    const stats = this.ussdStats;
    stats.steps += 1;
    const answer = await this.send(`${this.apiUrl}/api/ussd/handler?secret=${this.secrets.ussd}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        sessionId,
        serviceCode: '*383#',
        phoneNumber: `+${phone}`,
        networkCode: '63902',
        text,
      }),
    });
    if (!answer) {
      stats.unanswered += 1;
      return null;
    }
    stats.slowestMs = Math.max(stats.slowestMs, answer.ms);
    if (answer.ms > 2_000) stats.over2s += 1;
    const where = `${phone} ${JSON.stringify(text)}`;
    if (answer.status >= 500) {
      stats.serverErrors += 1;
      this.sample(stats.samples, `HTTP ${answer.status} to ${where}: ${answer.body.slice(0, 200)}`);
      return null;
    }
    if (answer.status !== 200 || !SCREEN.test(answer.body) || answer.body.length - 4 > MAX_SCREEN_CHARS) {
      stats.invalidScreens += 1;
      this.sample(stats.samples, `not a screen (HTTP ${answer.status}) for ${where}: ${answer.body.slice(0, 200)}`);
      return null;
    }
    if (/Too many wrong PINs/.test(answer.body) && !this.lockedOut.has(phone))
      this.lockedOut.set(phone, `USSD ${JSON.stringify(answer.body.slice(0, 100))}`);
    for (const [pattern, name] of REFUSALS) {
      if (answer.body.startsWith('END') && pattern.test(answer.body))
        stats.refusals[name] = (stats.refusals[name] ?? 0) + 1;
    }
    return answer.body;
  }

  /** A REST call; null: no answer. */
  async rest(
    method: 'GET' | 'POST',
    path: string,
    options: { token?: string; admin?: boolean; key?: string; body?: unknown; from?: string } = {},
  ): Promise<Answer | null> {
    const headers: Record<string, string> = {};
    // Each subscriber's phone has an address of its own, as the load balancer in front of Deni
    // passes it on (TRUST_PROXY): per-address limits (logins) apply per phone, not to the run.
    if (options.from) headers['x-forwarded-for'] = addressOf(options.from);
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.admin) headers['x-api-key'] = this.secrets.admin;
    if (options.key) headers['idempotency-key'] = options.key;
    const stats = this.restStats;
    stats.requests += 1;
    const answer = await this.send(`${this.apiUrl}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    if (!answer) stats.unanswered += 1;
    else if (answer.status >= 500) {
      stats.serverErrors[answer.status] = (stats.serverErrors[answer.status] ?? 0) + 1;
      if (answer.status !== 503)
        this.sample(stats.samples, `HTTP ${answer.status} to ${method} ${path}: ${answer.body.slice(0, 200)}`);
    }
    return answer;
  }

  /** A bearer token for this subscriber (logged in with the PIN once, again when it expires). */
  async token(phone: string, fresh = false): Promise<string | null> {
    const cached = this.tokens.get(phone);
    if (cached && !fresh) return cached;
    const answer = await this.rest('POST', '/api/auth/login', {
      body: { phoneNumber: phone, pin: this.pin },
      from: phone,
    });
    if (answer?.status !== 200) return null;
    const token = (JSON.parse(answer.body) as { accessToken: string }).accessToken;
    this.tokens.set(phone, token);
    return token;
  }

  /** A user's REST call, logging in first (and again once if the token was refused). */
  async asUser(
    phone: string,
    method: 'GET' | 'POST',
    path: string,
    options: { key?: string; body?: unknown } = {},
  ): Promise<Answer | null> {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const token = await this.token(phone, attempt > 0);
      if (!token) return null;
      const answer = await this.rest(method, path, { ...options, token, from: phone });
      if (answer?.status === 423 && !this.lockedOut.has(phone))
        this.lockedOut.set(phone, `${method} ${path}: ${answer.body.slice(0, 100)}`);
      if (answer?.status !== 401) return answer;
    }
    return null;
  }

  /** The paybill payment of a customer, made at the simulated M-PESA (which confirms it to Deni). */
  async payBill(billRefNumber: string, amount: number, msisdn: string): Promise<Answer | null> {
    return this.send(`${this.simulatorsUrl}/simulator/c2b`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ billRefNumber, amount, msisdn }),
    });
  }

  /** A paybill confirmation sent to Deni again, byte for byte, as a duplicate from M-PESA. */
  async confirmAgain(text: string): Promise<Answer | null> {
    return this.send(`${this.apiUrl}/api/mpesa/callbacks/${this.secrets.callback}/c2b/confirmation`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: text,
    });
  }
}
