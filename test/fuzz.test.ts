import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { parseKenyanMobile } from '../src/common/phone-number.js';
import { ADMIN_KEY, ApiClient } from './support/api-client.js';
import { ledgerViolations } from './support/invariants.js';
import { startTestApp, uniquePhone } from './support/test-app.js';
import { checkAtBody, checkScreen } from './support/ussd-clients.js';

/**
 * Hostile input, property-based: thousands of random and adversarial requests to every public
 * route and every USSD gateway dialect. Whatever arrives: never a 5xx, never a stack trace or an
 * internal path in a body, every USSD answer a valid screen in its dialect's shape, and no money
 * moves. fast-check prints the seed and the shrunk counterexample when a property fails; rerun
 * one with FUZZ_SEED=<seed>.
 */

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const runs = (n: number) => ({ numRuns: n, ...(SEED === undefined ? {} : { seed: SEED }), endOnFailure: false });

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(process.cwd(), 'test/fixtures/providers', name), 'utf8')) as Record<string, unknown>;

// ------------------------------------------------------------------------------- generators

/** encodeURIComponent that tolerates lone surrogates (they become U+FFFD, as on the wire). */
const encode = (s: string) => encodeURIComponent(Buffer.from(s, 'utf8').toString('utf8'));

const ADVERSARIAL = [
  '',
  ' ',
  "' OR 1=1 --",
  "'; DROP TABLE users; --",
  '1; SELECT pg_sleep(5)',
  '" OR ""="',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  '${jndi:ldap://x/a}',
  '{{7*7}}',
  '../../../../etc/passwd',
  '%00',
  '\u0000',
  '\r\nX-Injected: 1',
  '\uFEFF',
  '\uD800',
  '🦄💸',
  'Ksh 🇰🇪',
  '١٢٣٤',
  '４８２１',
  'NaN',
  'Infinity',
  '-0',
  '1e309',
  '9007199254740993',
  '-9007199254740993',
  '0x10',
  '  1  ',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '*383#',
  '*383*1*0722000000#',
  '#',
  '**',
  '*#*#',
  '00',
  '98',
  '0',
  'null',
  'undefined',
  '[]',
  '{}',
];

/** Money-like numbers the API must refuse or handle: past 2^53, fractions, negatives, huge. */
const HOSTILE_NUMBERS = [
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53) - 2,
  1e308,
  -1e308,
  0.5,
  -1,
  0,
  -0,
  1.0000001,
  250_001,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
];

const starStorm = fc.nat({ max: 400 }).map((n) => '*'.repeat(n));
const digits = fc.string({ unit: fc.constantFrom(...'0123456789'), maxLength: 20 });
const menuInput = fc.oneof(
  fc.constantFrom(
    '',
    '0',
    '00',
    '98',
    '1',
    '2',
    '3',
    '4',
    '5',
    '6',
    '7',
    '9',
    '4821',
    '1234',
    '0722000000',
    '5000',
    '500',
  ),
  digits,
);
const randomBytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1'));
const junkString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...ADVERSARIAL) },
  { weight: 2, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: randomBytes },
  { weight: 1, arbitrary: starStorm },
  { weight: 1, arbitrary: digits },
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(10_000), '1*'.repeat(5_000), '9'.repeat(400)) },
  { weight: 1, arbitrary: fc.array(menuInput, { maxLength: 12 }).map((a) => a.join('*')) },
);

const junkValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: junkString },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_NUMBERS) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.array(junkString, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);

/** Sets each known field to a plausible value, a hostile one, or leaves it out; adds junk fields. */
function bodyOf(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const entries = Object.entries(fields).map(([name, plausible]) =>
    fc
      .oneof(
        { weight: 5, arbitrary: plausible },
        { weight: 1, arbitrary: junkValue },
        { weight: 1, arbitrary: fc.constant(undefined) },
      )
      .map((v) => [name, v] as const),
  );
  return fc
    .tuple(
      fc.tuple(...entries),
      fc.dictionary(
        fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'pin', 'admin')),
        junkValue,
        { maxKeys: 2 },
      ),
      fc.nat(9),
    )
    .map(([known, extra, dice]) => {
      const body: Record<string, unknown> = {};
      for (const [k, v] of known) if (v !== undefined) body[k] = v;
      // Extra fields only now and then: most requests should get past "unknown field".
      if (dice === 0)
        for (const [k, v] of Object.entries(extra))
          Object.defineProperty(body, k, { value: v, enumerable: true, configurable: true, writable: true });
      return body;
    });
}

type Payload =
  | { kind: 'json'; value: unknown }
  | { kind: 'raw'; text: string; contentType?: string }
  | { kind: 'form'; entries: [string, string][] }
  | { kind: 'none' };

/** Raw JSON texts JSON.stringify cannot make: big literals, duplicate keys, broken, deep. */
const rawJson = fc.oneof(
  fc.constantFrom(
    '{"amount": 9007199254740993, "pin": "4821"}',
    '{"amount": 1e400}',
    '{"amount": -0}',
    '{"text": "1", "text": "2", "sessionId": "s", "sessionId": ["s"]}',
    '{"__proto__": {"admin": true}}',
    '{"constructor": {"prototype": {"x": 1}}}',
    '{"sessionId": ',
    '{',
    '}',
    '[',
    'null',
    'true',
    '"string"',
    '12345678901234567890',
    '[{"a": 1}]',
    '\uFEFF{}',
    '{"a": "\\ud800"}',
    '',
  ),
  fc.nat({ max: 3000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.nat({ max: 1500 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
  fc.constant(JSON.stringify({ blob: 'y'.repeat(10_240) })),
);

const contentTypes = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json; charset=utf-16',
  'application/x-www-form-urlencoded',
  'text/plain',
  'application/xml',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/vnd.api+json',
  '',
  ';;;',
);

/** A body for a route that expects `shape` as JSON: mostly close to it, sometimes anything at all. */
function payloadFor(shape: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Payload> {
  return fc.oneof(
    { weight: 6, arbitrary: shape.map((value): Payload => ({ kind: 'json', value })) },
    { weight: 1, arbitrary: fc.array(shape, { maxLength: 2 }).map((value): Payload => ({ kind: 'json', value })) },
    { weight: 1, arbitrary: junkValue.map((value): Payload => ({ kind: 'json', value })) },
    { weight: 1, arbitrary: rawJson.map((text): Payload => ({ kind: 'raw', text, contentType: 'application/json' })) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(junkString, contentTypes)
        .map(([text, contentType]): Payload => ({ kind: 'raw', text, contentType })),
    },
    { weight: 1, arbitrary: formOf(shape) },
    { weight: 1, arbitrary: fc.constant<Payload>({ kind: 'none' }) },
  );
}

/** A form body from a shape: values as text, now and then a field twice. */
function formOf(shape: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Payload> {
  return fc.tuple(shape, fc.boolean(), junkString).map(([body, duplicate, extra]): Payload => {
    const entries = Object.entries(body).map(
      ([k, v]) => [k, typeof v === 'string' ? v : (JSON.stringify(v) ?? '')] as [string, string],
    );
    if (duplicate && entries.length) entries.push([entries[0][0], extra]);
    return { kind: 'form', entries };
  });
}

// ------------------------------------------------------------------------------- the test

describe('hostile input (property-based fuzz)', () => {
  let app: NestFastifyApplication;
  let db: DataSource;
  let api: ApiClient;
  let callbackSecret: string;
  /** The numbers the fuzz dials and names; none of them may see money move. */
  const phones = Array.from({ length: 12 }, () => uniquePhone());
  /** Users with tokens and a funded wallet (funded before the fuzz starts). */
  let owner: { phone: string; token: string };
  let other: { phone: string; token: string };
  let before: { transfers: number; balance: string };

  const remoteAddresses = fc.constantFrom(
    '127.0.0.1',
    '10.0.0.7',
    '196.201.214.200',
    '::1',
    '2001:db8::1',
    '::ffff:192.0.2.1',
  );
  const phoneLike = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...phones) },
    { weight: 2, arbitrary: fc.constantFrom(...phones).map((p) => `+${p}`) },
    { weight: 2, arbitrary: fc.constantFrom(...phones).map((p) => `0${p.slice(3)}`) },
    { weight: 2, arbitrary: junkString },
  );

  async function money() {
    const [{ n }] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM transfers t
         JOIN accounts a ON a.id = t.debit_account_id OR a.id = t.credit_account_id
         JOIN users u ON u.id = a.user_id
        WHERE u.phone_number = ANY($1)`,
      [[...phones, owner.phone, other.phone]],
    );
    const [{ balance }] = await db.query<{ balance: string }[]>(
      `SELECT coalesce(sum(a.balance), 0)::text AS balance FROM accounts a JOIN users u ON u.id = a.user_id WHERE u.phone_number = ANY($1)`,
      [[...phones, owner.phone, other.phone]],
    );
    return { transfers: n, balance };
  }

  beforeAll(async () => {
    let config;
    ({ app, config } = await startTestApp({
      ADMIN_API_KEY: ADMIN_KEY,
      APP_ROLE: 'api',
      // The fuzz dials a dozen numbers thousands of times: the limit would answer most of them.
      USSD_RATE_LIMIT_PER_MINUTE: '1000',
      PIN_MAX_ATTEMPTS: '3',
    }));
    db = app.get(DataSource);
    api = new ApiClient(app);
    callbackSecret = config.mpesa.callbackSecret;
    owner = { phone: uniquePhone(), token: '' };
    other = { phone: uniquePhone(), token: '' };
    owner.token = await api.onboard(owner.phone, '5930');
    other.token = await api.onboard(other.phone, '5930');
    const credited = await api.call('POST', '/api/admin/deposits', {
      admin: true,
      body: { phoneNumber: owner.phone, amount: 5000, reference: `FUZZ${owner.phone}` },
    });
    expect(credited.status).toBe(201);
    before = await money();
    expect(before.transfers).toBe(1);
  });
  // After every property, whichever ran and in whatever order (jest --randomize): no money moved,
  // no invariant broken. Checked here rather than in a last test, which may not run last.
  afterAll(async () => {
    try {
      if (db) {
        expect(await money()).toEqual(before);
        expect(await ledgerViolations(db)).toEqual([]);
      }
    } finally {
      await app?.close();
    }
  });

  /** Fastify's own refusal of a body it cannot read (before routing to guards and handlers). */
  function bodyUnreadable(res: { statusCode: number; body: string }): boolean {
    if (res.statusCode === 413 || res.statusCode === 415) return true;
    return res.statusCode === 400 && (JSON.parse(res.body) as { code?: string }).code === 'REQUEST.INVALID';
  }

  /** Sends one request and checks what holds for every route; returns the response. */
  async function send(req: {
    method: string;
    url: string;
    payload: Payload;
    headers?: Record<string, string | undefined>;
    remoteAddress?: string;
  }) {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers ?? {})) if (v !== undefined) headers[k] = v;
    let payload: string | undefined;
    const p = req.payload;
    if (p.kind === 'json') {
      payload = JSON.stringify(p.value) ?? 'null';
      headers['content-type'] ??= 'application/json';
    } else if (p.kind === 'raw') {
      payload = p.text;
      if (p.contentType !== undefined && p.contentType !== '') headers['content-type'] ??= p.contentType;
    } else if (p.kind === 'form') {
      payload = new URLSearchParams(p.entries).toString();
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
    }
    if (req.method === 'GET') payload = undefined;
    const res = await app.inject({
      method: req.method as 'GET' | 'POST',
      url: req.url,
      headers,
      ...(payload === undefined ? {} : { payload }),
      ...(req.remoteAddress ? { remoteAddress: req.remoteAddress } : {}),
    });
    const sent = `${req.url}\n${payload ?? ''}\n${JSON.stringify(headers)}`;
    const what = `${req.method} ${req.url} ${JSON.stringify(headers)} ${String(payload).slice(0, 300)} → ${res.statusCode} ${res.body.slice(0, 500)}`;
    if (res.statusCode >= 500) throw new Error(`5xx: ${what}`);
    // No stack frames, internal paths or module paths, unless the request itself carried them (echoes).
    for (const leak of [
      /\bat [\w$.<>[\]]+ \([^)]*:\d+:\d+\)/,
      /\n\s+at \S/,
      /\/work\//,
      /node_modules/,
      /node:internal/,
      /\.(ts|js):\d+:\d+/,
    ]) {
      const m = res.body.match(leak);
      if (m && !sent.includes(m[0])) throw new Error(`leak ${leak}: ${what}`);
    }
    return res;
  }

  /** Checks a USSD answer from `gateway`: 200 with a valid screen in its shape, or a 4xx where allowed. */
  function checkUssd(gateway: string, res: Awaited<ReturnType<typeof send>>, what: string) {
    const ctype = String(res.headers['content-type'] ?? '');
    if (res.statusCode !== 200) {
      // Fastify refused the body before any dialect saw it (unreadable JSON, wrong type), or a JSON dialect could not read it.
      if (![400, 413, 415].includes(res.statusCode))
        throw new Error(`USSD status ${res.statusCode}: ${what} ${res.body.slice(0, 300)}`);
      const body = res.json<{ code?: unknown; message?: unknown }>();
      if (typeof body.code !== 'string' || typeof body.message !== 'string')
        throw new Error(`USSD error without code: ${res.body}`);
      return;
    }
    if (gateway === 'africastalking') {
      if (!ctype.startsWith('text/plain')) throw new Error(`AT content type ${ctype}: ${what}`);
      checkAtBody(res.body);
      return;
    }
    if (!ctype.startsWith('application/json')) throw new Error(`${gateway} content type ${ctype}: ${what}`);
    const body = res.json<Record<string, unknown>>();
    const keys = Object.keys(body).sort().join(',');
    const shapes: Record<string, [string, string, (b: Record<string, unknown>) => boolean]> = {
      generic: [
        'message,responseType',
        'message',
        (b) => b.responseType === 'input' || b.responseType === 'notification',
      ],
      hubtel: [
        'ClientState,Message,Type',
        'Message',
        (b) => (b.Type === 'Response' || b.Type === 'Release') && typeof b.ClientState === 'string',
      ],
      nalo: [
        'MSG,MSGTYPE,MSISDN,USERID',
        'MSG',
        (b) => typeof b.MSGTYPE === 'boolean' && typeof b.USERID === 'string' && typeof b.MSISDN === 'string',
      ],
      arkesel: [
        'continueSession,message,msisdn,sessionID,userID',
        'message',
        (b) => typeof b.continueSession === 'boolean' && typeof b.sessionID === 'string',
      ],
      test: [
        'continueSession,message,phoneNumber,sessionId,state',
        'message',
        (b) => typeof b.continueSession === 'boolean' && typeof b.state === 'string',
      ],
    };
    const [expectedKeys, messageKey, ok] = shapes[gateway];
    if (keys !== expectedKeys || !ok(body) || typeof body[messageKey] !== 'string')
      throw new Error(`${gateway} reply shape ${res.body}: ${what}`);
    checkScreen(body[messageKey]);
  }

  const sessionIds = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('fz-1', 'fz-2', 'fz-3', 'ATUid_fz') },
    { weight: 1, arbitrary: junkString },
  );
  const atText = fc.oneof(
    { weight: 3, arbitrary: fc.array(menuInput, { maxLength: 10 }).map((a) => a.join('*')) },
    { weight: 1, arbitrary: fc.constantFrom(...phones).map((p) => `1*0${p.slice(3)}*5000*500*1*4821*4821`) },
    { weight: 2, arbitrary: junkString },
  );
  const ussdSecretHeader = fc.option(fc.oneof(junkString.filter((s) => !/[\r\n\0]/.test(s) && s.length < 1000)), {
    nil: undefined,
  });

  const dialectBodies: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
    africastalking: bodyOf({
      sessionId: sessionIds,
      serviceCode: fc.constantFrom('*383#', '*384#', ''),
      phoneNumber: phoneLike,
      networkCode: fc.constantFrom('63902', '63903'),
      text: atText,
    }),
    generic: bodyOf({
      sessionId: sessionIds,
      serviceCode: fc.constantFrom('*383#', '*383'),
      phoneNumber: phoneLike,
      text: menuInput,
      requestId: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
    }),
    hubtel: bodyOf({
      Type: fc.constantFrom('Initiation', 'Response', 'Release', 'Timeout', 'initiation', 'response', 'Bogus'),
      Mobile: phoneLike,
      SessionId: sessionIds,
      ServiceCode: fc.constantFrom('*383#', '383', '*383*1#'),
      Message: fc.oneof(menuInput, fc.constantFrom('*383#', '*383*1*0722000000#')),
      Operator: fc.constantFrom('safaricom', 'airtel'),
      Sequence: fc.oneof(fc.nat(20), fc.nat(20).map(String), fc.constantFrom(2 ** 53 + 2, -1, 1.5)),
      ClientState: fc.string({ maxLength: 20 }),
    }),
    nalo: bodyOf({
      USERID: fc.constantFrom('nalo_deni', 'u2'),
      MSISDN: phoneLike,
      USERDATA: fc.oneof(menuInput, fc.constantFrom('*383#', '*383*4#')),
      MSGTYPE: fc.oneof(fc.boolean(), fc.constantFrom('true', 'false', 'TRUE', ' false ', 'yes', 1)),
      NETWORK: fc.constant('SAFARICOM'),
    }),
    arkesel: bodyOf({
      sessionID: sessionIds,
      userID: fc.constantFrom('ark_deni'),
      msisdn: phoneLike,
      userData: fc.oneof(menuInput, fc.constantFrom('*383#')),
      newSession: fc.oneof(fc.boolean(), fc.constantFrom('true', 'false', 0)),
      network: fc.constant('Safaricom'),
    }),
  };

  // The property tests send hundreds of requests: their timeouts catch a hang, not slowness.
  it('every USSD dialect answers a valid screen (or a 4xx for JSON dialects) whatever it is sent', async () => {
    const target = fc.oneof(
      ...Object.keys(dialectBodies).map((g) => fc.constant({ gateway: g, url: `/api/ussd/handler/${g}` })),
      fc.constant({ gateway: 'africastalking', url: '/api/ussd/handler' }),
      fc.constant({ gateway: 'generic', url: '/api/ussd/handler' }),
      fc.constant({ gateway: 'test', url: '/api/ussd/test' }),
    );
    await fc.assert(
      fc.asyncProperty(
        target.chain((t) => {
          const shape = t.gateway === 'test' ? dialectBodies.generic : dialectBodies[t.gateway];
          // Africa's Talking posts forms; everyone else JSON. Each also gets the other, and junk.
          const wire =
            t.gateway === 'africastalking'
              ? fc.oneof({ weight: 4, arbitrary: formOf(shape) }, { weight: 2, arbitrary: payloadFor(shape) })
              : payloadFor(shape);
          return fc.record({
            t: fc.constant(t),
            payload: wire,
            secret: ussdSecretHeader,
            ip: remoteAddresses,
            query: fc.constantFrom('', '?secret=x', '?text=1&text=2', '?a[b]=1'),
          });
        }),
        async ({ t, payload, secret, ip, query }) => {
          // On /api/ussd/handler the content type picks the dialect.
          let gateway = t.gateway;
          if (t.url === '/api/ussd/handler') {
            gateway = payload.kind === 'form' ? 'africastalking' : payload.kind === 'json' ? 'generic' : t.gateway;
          }
          const res = await send({
            method: 'POST',
            url: t.url + query,
            payload,
            headers: { 'x-ussd-secret': secret },
            remoteAddress: ip,
          });
          const what = `${t.url}${query} ${JSON.stringify(payload).slice(0, 400)}`;
          if (t.url === '/api/ussd/handler' && payload.kind === 'raw') {
            // Whatever the content type says decides the dialect; anything else is a coded 4xx.
            const ct = (payload.contentType ?? '').split(';')[0].trim().toLowerCase();
            gateway = ct === 'application/x-www-form-urlencoded' ? 'africastalking' : 'generic';
          }
          if (t.gateway === 'test' && res.statusCode !== 200) {
            if (![400, 413, 415].includes(res.statusCode)) throw new Error(`test endpoint ${res.statusCode}: ${what}`);
            return;
          }
          checkUssd(gateway, res, what);
          // Africa's Talking must always get a screen when its body could be read at all.
          if (gateway === 'africastalking' && payload.kind === 'form' && res.statusCode !== 200 && !bodyUnreadable(res))
            throw new Error(`AT form got ${res.statusCode}: ${what}`);
        },
      ),
      runs(1500),
    );
  }, 120_000);

  /** Every REST route with a plausible body and its hostile variants. */
  const uuid = fc.oneof(
    fc.uuid(),
    junkString
      .map(encode)
      .filter((s) => s.length > 0 && s.length < 180 && !/^\.+$/.test(s)) /* '.' and '..' are path segments, not ids */,
  );
  const pin = fc.oneof(
    fc.constantFrom('1111', '1234', '0000', '12345', '482', ' 4821', '4821 ', '４８２１'),
    fc
      .integer({ min: 0, max: 9999 })
      .map((n) => String(n).padStart(4, '0'))
      .filter((p) => p !== '5930'),
  );
  const amount = fc.oneof(
    fc.integer({ min: -10, max: 300_000 }),
    fc.constantFrom(...HOSTILE_NUMBERS),
    fc.integer().map(String),
  );
  const query = (fields: Record<string, fc.Arbitrary<string>>) =>
    bodyOf(fields).map((q) => {
      const entries = Object.entries(q).map(
        ([k, v]) => [k, typeof v === 'string' ? v : (JSON.stringify(v) ?? '')] as [string, string],
      );
      return entries.length ? `?${new URLSearchParams(entries).toString()}` : '';
    });

  interface Route {
    method: 'GET' | 'POST';
    path: fc.Arbitrary<string>;
    body?: fc.Arbitrary<Record<string, unknown>>;
    auth: 'user' | 'admin' | 'none' | 'callback';
    /** Admin routes where a valid key with a valid body could move money or call Daraja get junk keys only. */
    adminKeyAllowed?: boolean;
  }
  const ROUTES: Route[] = [
    { method: 'POST', path: fc.constant('/api/auth/otp'), body: bodyOf({ phoneNumber: phoneLike }), auth: 'none' },
    {
      method: 'POST',
      path: fc.constant('/api/auth/pin'),
      body: bodyOf({ phoneNumber: phoneLike, otp: fc.oneof(digits, fc.constant('123456')), pin }),
      auth: 'none',
    },
    {
      method: 'POST',
      path: fc.constant('/api/auth/login'),
      body: bodyOf({ phoneNumber: fc.oneof(phoneLike, fc.constant(undefined as unknown as string)), pin }),
      auth: 'none',
    },
    {
      method: 'GET',
      path: query({ limit: fc.oneof(fc.nat(200).map(String), junkString), before: junkString }).map(
        (q) => `/api/wallet/transactions${q}`,
      ),
      auth: 'user',
    },
    { method: 'GET', path: fc.constant('/api/wallet'), auth: 'user' },
    { method: 'GET', path: fc.constant('/api/wallet/payments'), auth: 'user' },
    {
      method: 'POST',
      path: fc.constant('/api/wallet/deposits'),
      body: bodyOf({ amount: fc.oneof(fc.constantFrom(...HOSTILE_NUMBERS), junkValue) }),
      auth: 'user',
    },
    { method: 'POST', path: fc.constant('/api/wallet/withdrawals'), body: bodyOf({ amount, pin }), auth: 'user' },
    {
      method: 'POST',
      path: fc.constant('/api/loans'),
      body: bodyOf({ lenderPhoneNumber: phoneLike, amount, repaymentPerDeposit: amount, pin }),
      auth: 'user',
    },
    {
      method: 'GET',
      path: query({
        role: fc.constantFrom('borrower', 'lender', 'x'),
        status: fc.constantFrom('PENDING', 'ACTIVE', 'nope'),
        limit: fc.nat(1000).map(String),
        offset: fc.oneof(fc.nat().map(String), fc.constant('-1'), fc.constant('1e309')),
      }).map((q) => `/api/loans${q}`),
      auth: 'user',
    },
    { method: 'GET', path: uuid.map((id) => `/api/loans/${id}`), auth: 'user' },
    ...(['approve', 'decline', 'cancel', 'repay'] as const).map((action): Route => ({
      method: 'POST',
      path: uuid.map((id) => `/api/loans/${id}/${action}`),
      body: bodyOf({ pin, amount }),
      auth: 'user',
    })),
    {
      method: 'POST',
      path: fc.constant('/api/sync/push'),
      body: bodyOf({
        deviceId: fc.string({ maxLength: 40 }),
        operations: fc.array(
          bodyOf({
            opId: fc.oneof(fc.uuid(), junkString),
            type: fc.constantFrom(
              'loan.request',
              'loan.approve',
              'loan.decline',
              'loan.cancel',
              'loan.repay',
              'wallet.withdraw',
              'x',
            ),
            payload: bodyOf({ lenderPhoneNumber: phoneLike, amount, repaymentPerDeposit: amount, loanId: uuid }),
            clientTimestamp: fc.oneof(
              fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
              junkValue,
            ),
          }),
          { maxLength: 4 },
        ),
      }),
      auth: 'user',
    },
    {
      method: 'GET',
      path: query({ since: junkString, limit: fc.oneof(fc.nat(500).map(String), junkString) }).map(
        (q) => `/api/sync/pull${q}`,
      ),
      auth: 'user',
    },
    // Admin: a valid key never meets a body that could move money (deposits get hostile amounts only).
    {
      method: 'POST',
      path: fc.constant('/api/admin/deposits'),
      body: bodyOf({
        phoneNumber: phoneLike,
        amount: fc.oneof(
          fc.constantFrom(...HOSTILE_NUMBERS.filter((n) => !Number.isSafeInteger(n) || n <= 0)),
          junkString,
          fc.constant(null),
        ),
        reference: junkString,
      }),
      auth: 'admin',
      adminKeyAllowed: true,
    },
    {
      method: 'GET',
      path: query({ phoneNumber: phoneLike }).map((q) => `/api/admin/mpesa/payments${q}`),
      auth: 'admin',
      adminKeyAllowed: true,
    },
    { method: 'POST', path: fc.constant('/api/admin/mpesa/c2b/register'), auth: 'admin' },
    { method: 'POST', path: fc.constant('/api/admin/mpesa/reconcile'), auth: 'admin' },
    // A review moves no money; a junk or unknown id is never a flagged payment.
    {
      method: 'POST',
      path: fc
        .oneof(uuid, junkString.map(encode))
        .map((id) => `/api/admin/mpesa/payments/${id}/reviewed`)
        .filter((p) => p.length < 220),
      body: bodyOf({ note: junkString, reviewedBy: junkString }),
      auth: 'admin',
      adminKeyAllowed: true,
    },
    // A resolution moves money: with the admin key it only ever gets an outcome that is neither
    // paid nor not_paid (refused before any payment is looked up), besides an id that is no withdrawal.
    {
      method: 'POST',
      path: fc
        .oneof(uuid, junkString.map(encode))
        .map((id) => `/api/admin/mpesa/payments/${id}/resolve`)
        .filter((p) => p.length < 220),
      body: bodyOf({
        outcome: fc.oneof(
          fc.constantFrom('PAID', 'not paid', 'paid ', 'true', ''),
          junkString.filter((s) => s !== 'paid' && s !== 'not_paid'),
        ),
        receipt: junkString,
        reviewedBy: junkString,
        note: junkString,
      }),
      auth: 'admin',
      adminKeyAllowed: true,
    },
    {
      method: 'GET',
      path: query({ phoneNumber: phoneLike, limit: fc.oneof(fc.nat(500).map(String), junkString) }).map(
        (q) => `/api/admin/notifications${q}`,
      ),
      auth: 'admin',
      adminKeyAllowed: true,
    },
    { method: 'GET', path: fc.constant('/api/ussd/sessions'), auth: 'admin', adminKeyAllowed: true },
    { method: 'POST', path: fc.constant('/api/ussd/sessions/clear'), auth: 'admin' },
    {
      method: 'GET',
      path: phoneLike.map((p) => `/api/ussd/queue/${encode(p)}`).filter((p) => p.length < 220),
      auth: 'admin',
      adminKeyAllowed: true,
    },
    {
      method: 'POST',
      path: fc.constant('/api/ussd/sync'),
      body: bodyOf({ phoneNumber: phoneLike }),
      auth: 'admin',
      adminKeyAllowed: true,
    },
    {
      method: 'GET',
      path: fc.constantFrom('/admin/queues', '/admin/queues/api/queues', '/admin/queues/static/x.js'),
      auth: 'admin',
    },
    // The phone simulator's control routes (on outside production) take the admin key too. Setting an
    // outcome could change what a fuzzed top-up does: junk keys only; a junk CheckoutRequestID is never pending.
    {
      method: 'GET',
      path: query({ phoneNumber: phoneLike, limit: fc.oneof(fc.nat(500).map(String), junkString) }).map(
        (q) => `/simulator/api/sms${q}`,
      ),
      auth: 'admin',
      adminKeyAllowed: true,
    },
    {
      method: 'GET',
      path: query({ phoneNumber: phoneLike }).map((q) => `/simulator/api/mpesa/pending${q}`),
      auth: 'admin',
      adminKeyAllowed: true,
    },
    {
      method: 'POST',
      path: fc.constant('/simulator/api/mpesa/outcome'),
      body: bodyOf({
        phoneNumber: phoneLike,
        outcome: fc.oneof(fc.constantFrom('success', 'cancelled', 'hold'), junkString),
      }),
      auth: 'admin',
    },
    {
      method: 'POST',
      path: uuid.map((id) => `/simulator/api/mpesa/pending/${id}`),
      body: bodyOf({ outcome: fc.oneof(fc.constantFrom('success', 'hold', 'no_callback'), junkString) }),
      auth: 'admin',
      adminKeyAllowed: true,
    },
    { method: 'GET', path: fc.constant('/simulator/api/config'), auth: 'none' },
    {
      method: 'GET',
      path: fc.constantFrom(
        '/api/ussd/health',
        '/health/live',
        '/metrics',
        '/docs-json',
        '/nope',
        '/%',
        '/api/loans/%E0%A4%A',
        '//',
        '/admin/queues/../../etc/passwd',
      ),
      auth: 'none',
    },
  ];

  it('REST routes refuse hostile input with a coded 4xx, with and without tokens and keys', async () => {
    const tokenFor = (kind: number, junk: string) => {
      switch (kind) {
        case 0:
          return undefined;
        case 1:
          return `Bearer ${owner.token}`;
        case 2:
          return `Bearer ${other.token}`;
        case 3:
          return `Bearer ${owner.token.slice(0, -3)}abc`; // a forged signature
        case 4:
          return `Bearer ${junk}`;
        case 5:
          return `Basic ${Buffer.from('a:b').toString('base64')}`;
        default:
          return `Bearer eyJhbGciOiJub25lIn0.${Buffer.from(JSON.stringify({ sub: 'x', phone: owner.phone })).toString('base64url')}.`;
      }
    };
    const headerSafe = (s: string) => s.replace(/[^\x20-\x7e]/g, '').slice(0, 200);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES).chain((route) =>
          fc.record({
            route: fc.constant(route),
            path: route.path,
            payload: route.body
              ? payloadFor(route.body)
              : fc.oneof(fc.constant<Payload>({ kind: 'none' }), payloadFor(bodyOf({ x: junkValue }))),
            tokenKind: fc.nat(6),
            junk: junkString.map(headerSafe),
            adminKind: fc.nat(2),
            idempotency: fc.option(junkString.map(headerSafe), { nil: undefined }),
            ip: remoteAddresses,
            method: fc.oneof(
              { weight: 9, arbitrary: fc.constant(route.method) },
              { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH') },
            ),
          }),
        ),
        async ({ route, path, payload, tokenKind, junk, adminKind, idempotency, ip, method }) => {
          const adminKey =
            adminKind === 0 ? undefined : adminKind === 1 || !route.adminKeyAllowed ? junk || 'wrong' : ADMIN_KEY;
          const res = await send({
            method,
            url: path,
            payload,
            headers: {
              authorization: tokenFor(tokenKind, junk),
              'x-api-key': adminKey,
              'idempotency-key': idempotency,
              'x-request-id': junk,
            },
            remoteAddress: ip,
          });
          const what = `${method} ${path} → ${res.statusCode} ${res.body.slice(0, 300)}`;
          // Coded JSON errors (bull-board and docs answer their own pages).
          if (res.statusCode >= 400 && !path.startsWith('/admin/queues')) {
            const body = res.json<{ code?: unknown; message?: unknown }>();
            if (typeof body.code !== 'string' || typeof body.message !== 'string')
              throw new Error(`error without code/message: ${what}`);
          }
          // Fastify reads the body before any guard runs: an unreadable body is refused first.
          const validToken = tokenKind === 1 || tokenKind === 2;
          // A path the router does not match ('/api/ussd/queue/', '/api/loans/./cancel') never reaches a route.
          const unrouted =
            res.statusCode === 404 && /^Cannot [A-Z]+ /.test(String(res.json<{ message?: unknown }>().message));
          const refused = res.statusCode === 401 || bodyUnreadable(res) || unrouted;
          if (route.auth === 'user' && method === route.method && !validToken && !refused)
            throw new Error(`user route without a valid token: ${what}`);
          if (route.auth === 'admin' && method === route.method && adminKey !== ADMIN_KEY && !refused)
            throw new Error(`admin route without the key: ${what}`);
        },
      ),
      runs(1500),
    );
  }, 120_000);

  it('M-PESA callbacks take anything without a 5xx; a wrong secret is a 404', async () => {
    const stk = fixture('daraja-stk-callback-success.json');
    const c2b = fixture('daraja-c2b-confirmation.json');
    const b2c = fixture('daraja-b2c-result-success.json');
    const status = fixture('daraja-transaction-status-result.json');
    // Never a Kenyan mobile: a C2B payment naming a real user would (rightly) credit them.
    const notAPhone = junkString.filter((s) => !parseKenyanMobile(s).ok);
    const mutate = (base: Record<string, unknown>, overrides: fc.Arbitrary<Record<string, unknown>>) =>
      fc.tuple(overrides, fc.boolean()).map(([o, deep]) => {
        const copy = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
        if (deep) {
          // Swap a nested object for junk.
          const [k] = Object.keys(copy);
          copy[k] = o;
          return copy;
        }
        return { ...copy, ...o };
      });
    const bodies = {
      stk: mutate(
        stk,
        bodyOf({
          Body: fc.record({
            stkCallback: bodyOf({
              CheckoutRequestID: junkString,
              ResultCode: junkValue,
              MerchantRequestID: junkString,
            }),
          }),
        }),
      ),
      'c2b/validation': mutate(
        c2b,
        bodyOf({
          TransID: junkString,
          TransAmount: fc.oneof(junkValue, fc.constantFrom('9007199254740993', '1e309', '-5', '5.5', '250001')),
          BillRefNumber: notAPhone,
        }),
      ),
      'c2b/confirmation': mutate(
        c2b,
        bodyOf({
          TransID: fc.oneof(junkString, fc.uuid()),
          TransAmount: fc.oneof(junkValue, fc.constantFrom('9007199254740993', '1e309', '-5', '5.5', '100')),
          BillRefNumber: notAPhone,
        }),
      ),
      'b2c/result': mutate(
        b2c,
        bodyOf({ Result: bodyOf({ OriginatorConversationID: junkString, ResultCode: junkValue }) }),
      ),
      'b2c/timeout': mutate(
        b2c,
        bodyOf({ Result: bodyOf({ OriginatorConversationID: junkString, ResultCode: junkValue }) }),
      ),
      // Transaction Status answers name a withdrawal in the URL: one that exists nowhere, and junk.
      'b2c/status/0b8e1f7c-5d2a-4c3e-9f10-2a3b4c5d6e7f/result': mutate(
        status,
        bodyOf({
          Result: bodyOf({ OriginatorConversationID: junkString, ResultCode: junkValue, ResultParameters: junkValue }),
        }),
      ),
      'b2c/status/not-a-payment/timeout': mutate(
        status,
        bodyOf({ Result: bodyOf({ ConversationID: junkString, ResultCode: junkValue }) }),
      ),
    };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...(Object.keys(bodies) as (keyof typeof bodies)[])).chain((kind) =>
          fc.record({
            kind: fc.constant(kind),
            payload: payloadFor(bodies[kind]),
            rightSecret: fc.nat(5),
            wrong: junkString,
            ip: remoteAddresses,
          }),
        ),
        async ({ kind, payload, rightSecret, wrong, ip }) => {
          const secret = rightSecret > 0 ? callbackSecret : encode(wrong).slice(0, 150) || 'x';
          const res = await send({
            method: 'POST',
            url: `/api/mpesa/callbacks/${secret}/${kind}`,
            payload,
            remoteAddress: ip,
          });
          const what = `${kind} (${rightSecret > 0 ? 'right' : 'wrong'} secret) → ${res.statusCode} ${res.body.slice(0, 300)}`;
          if (secret !== callbackSecret && res.statusCode !== 404 && !bodyUnreadable(res))
            throw new Error(`wrong secret not a 404: ${what}`);
          if (res.statusCode !== 200) {
            if (![400, 404, 413, 415, 422].includes(res.statusCode)) throw new Error(`callback status: ${what}`);
            return;
          }
          const body = res.json<Record<string, unknown>>();
          if (!('ResultCode' in body) || !('ResultDesc' in body)) throw new Error(`callback reply shape: ${what}`);
        },
      ),
      runs(600),
    );
  }, 120_000);

  it('regressions the fuzz found: each is a coded 4xx now, not a 500', async () => {
    const cb = (kind: string, body: unknown) =>
      send({
        method: 'POST',
        url: `/api/mpesa/callbacks/${callbackSecret}/${kind}`,
        payload: { kind: 'json', value: body },
      });
    const c2b = { ...fixture('daraja-c2b-confirmation.json'), BillRefNumber: 'nobody' };
    const cases: [string, () => ReturnType<typeof send>, number][] = [
      // class-transformer recursed through a deeply nested body until the stack overflowed.
      [
        'deep JSON array',
        () =>
          send({
            method: 'POST',
            url: '/api/auth/otp',
            payload: { kind: 'raw', text: '['.repeat(5000) + ']'.repeat(5000), contentType: 'application/json' },
          }),
        400,
      ],
      [
        'deep JSON object',
        () =>
          send({
            method: 'POST',
            url: '/api/auth/login',
            payload: {
              kind: 'raw',
              text: '{"a":'.repeat(5000) + '1' + '}'.repeat(5000),
              contentType: 'application/json',
            },
          }),
        400,
      ],
      // The seed's test endpoint let '' through its DTO into the dialect parser, which threw.
      [
        '/api/ussd/test with phoneNumber ""',
        () =>
          send({
            method: 'POST',
            url: '/api/ussd/test',
            payload: { kind: 'json', value: { sessionId: 'fz-r', phoneNumber: '', text: '' } },
          }),
        400,
      ],
      [
        '/api/ussd/test with sessionId ""',
        () =>
          send({
            method: 'POST',
            url: '/api/ussd/test',
            payload: { kind: 'json', value: { sessionId: '', phoneNumber: phones[0], text: '' } },
          }),
        400,
      ],
      // A TransID longer than its column (varchar 32) reached PostgreSQL.
      [
        'C2B TransID of 36 characters',
        () => cb('c2b/confirmation', { ...c2b, TransID: '00000000-0000-1000-8000-000000000000' }),
        422,
      ],
      // PostgreSQL text and jsonb cannot hold U+0000.
      ['C2B with a NUL', () => cb('c2b/confirmation', { ...c2b, TransID: 'FZNUL1', BillRefNumber: '\u0000' }), 422],
      [
        'B2C result with a NUL key',
        () =>
          cb('b2c/result', {
            Result: {
              ResultCode: 0,
              ResultDesc: 'x',
              OriginatorConversationID: 'o-nul',
              ConversationID: 'c-nul',
              'a\u0000': 1,
            },
          }),
        422,
      ],
      [
        'STK receipt of 40 characters',
        () =>
          cb('stk', {
            Body: {
              stkCallback: {
                MerchantRequestID: 'm',
                CheckoutRequestID: 'ws_CO_fz_long',
                ResultCode: 1032,
                ResultDesc: 'x',
                CallbackMetadata: { Item: [{ Name: 'MpesaReceiptNumber', Value: 'R'.repeat(40) }] },
              },
            },
          }),
        422,
      ],
    ];
    // Daraja delivers at least once: a paid STK callback for a push nobody knows, twice
    // (docs/mpesa.md#callbacks: duplicates are a 200 that changes nothing).
    const paidUnknown = { ...fixture('daraja-stk-callback-success.json') } as {
      Body: { stkCallback: Record<string, unknown> };
    };
    paidUnknown.Body = {
      stkCallback: {
        ...paidUnknown.Body.stkCallback,
        CheckoutRequestID: `ws_CO_fz_${phones[0]}`,
        MerchantRequestID: `fz-${phones[0]}`,
      },
    };
    cases.push(['paid STK callback for an unknown push, first delivery', () => cb('stk', paidUnknown), 200]);
    cases.push(['paid STK callback for an unknown push, redelivered', () => cb('stk', paidUnknown), 200]);
    for (const [what, run, status] of cases) {
      const res = await run();
      expect({ what, status: res.statusCode }).toEqual({ what, status });
    }
  });
});
