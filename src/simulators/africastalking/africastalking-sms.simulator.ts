// Size: over 400 lines. The whole Africa's Talking SMS API as Deni and third-party clients meet it:
// send and fetch, every documented failure mode, and delivery reports posted back, kept together
// so the simulated provider reads as one protocol. A development tool, never loaded by the service.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { AtRecipient, AtSendReply } from '../../notifications/africastalking-sms.provider.js';
import { serverUrl, simulatorScope } from '../shared-server.js';
import { writeStateFile } from '../state-file.js';

/**
 * A local stand-in for Africa's Talking's SMS endpoint, `POST /version1/messaging`, for tests and
 * for local development (point `AT_BASE_URL` at its `url`). It is a plain module with no Nest in
 * it, so other tools (the browser phone simulator) can start one and read what it received.
 *
 * What it does, as AT does it:
 * - takes the form-urlencoded fields `username`, `to` (comma-separated E.164 numbers), `message`
 *   and the optional `from`, authenticated by the `apiKey` header;
 * - answers a wrong `apiKey` or `username` with HTTP 401 and AT's plain text
 *   `The supplied authentication is invalid`, and a missing field with HTTP 400 and plain text;
 * - answers HTTP 201 with `{"SMSMessageData":{"Message":"Sent to 1/1 Total Cost: KES 0.8000",
 *   "Recipients":[{"statusCode":101,"number":…,"status":"Success","cost":"KES 0.8000","messageId":…}]}}`
 *   (the shape of test/fixtures/providers/at-sms-send-response.json), with one recipient per number:
 *   a number that is not `+` and 8 to 15 digits gets 403 InvalidPhoneNumber, a blacklisted one
 *   406 UserInBlacklist.
 *
 * Unlike AT it always answers JSON (AT answers XML unless the request says `Accept: application/json`,
 * which Deni's provider always does), charges a flat KES 0.8000 per recipient, and delivers nothing.
 *
 * Delivery reports, as AT sends them to the delivery-report URL of the account: after answering a
 * send, for each recipient it accepted, a form-urlencoded POST to `deliveryReportUrl` (when set, or
 * once `POST /simulator/sms/delivery-report-url {url}` sets it) with `id` (the messageId),
 * `status`, `phoneNumber`, `networkCode` (63902, Safaricom), `failureReason` (only with Rejected or
 * Failed) and `retryCount`, `deliveryReportDelayMs` later. The status is `Success` unless
 * `POST /simulator/sms/outcomes {phoneNumber, status, failureReason?, retryCount?}` chose another
 * for that number (until changed; `status: "Success"` goes back). A report Deni does not answer
 * with a 2xx is logged in `reports` and not retried.
 *
 * Fetch messages: `GET /version1/messaging?username=…&lastReceivedId=…` (apiKey header) answers
 * `{"SMSMessageData":{"Messages":[{"linkId","text","to","id","date","from"}]}}` with the incoming
 * messages (sent by phones to the account's shortcode) whose id is above lastReceivedId, oldest
 * first, at most 100. `POST /simulator/sms/incoming {from, to, text, linkId?}` stands in for a phone
 * sending one (201 with the message).
 *
 * It can be told to fail the next requests (`failNext`) in these ways:
 * - `http500`: HTTP 500, plain text;
 * - `blacklist`: HTTP 201, every recipient 406 UserInBlacklist;
 * - `dnd`: HTTP 409, every recipient 409 DoNotDisturbRejection (test/fixtures/providers/at-sms-send-response-dnd-409.json);
 * - `unreadable`: HTTP 200 with an HTML page;
 * - `timeout`: no answer at all (until the client gives up or the simulator closes).
 */

export type SimulatorFailure = 'http500' | 'blacklist' | 'dnd' | 'unreadable' | 'timeout';

export interface AfricasTalkingSmsSimulatorOptions {
  /** The account's username; requests with another get 401. Default `sandbox`. */
  username?: string;
  /** The expected `apiKey` header; requests with another get 401. Default `simulator-api-key`. */
  apiKey?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Numbers (with or without `+`) always answered 406 UserInBlacklist. */
  blacklist?: Iterable<string>;
  /** Called for every request received, after its answer is decided. */
  onMessage?: (message: SimulatedSms) => void;
  /**
   * A JSON file that keeps the messages received across restarts (without the `apiKey` header),
   * written atomically after each one. Unset: memory only.
   */
  stateFile?: string;
  /** A shared server (not listening yet) to answer on, in a scope of its own; see the Daraja simulator's. */
  server?: FastifyInstance;
  /** Where delivery reports go (Deni's route, with its `?secret=`). Unset: nowhere, until set by the control route. */
  deliveryReportUrl?: string;
  /** How long after a send its delivery reports leave. Default 200 ms (AT's come seconds later). */
  deliveryReportDelayMs?: number;
}

/** A delivery report's fields as AT posts them (all strings, form-urlencoded). */
export interface SimulatedDeliveryReport {
  id: string;
  status: string;
  phoneNumber: string;
  networkCode: string;
  failureReason?: string;
  retryCount: string;
}

/** One delivery report the simulator posted, and how it was answered. */
export interface SentDeliveryReport {
  url: string;
  report: SimulatedDeliveryReport;
  /** Deni's HTTP status, or null when the post failed (the reason in `error`). */
  httpStatus: number | null;
  error?: string;
}

/** How the delivery reports of a number's messages end (default: Success). */
export interface DeliveryOutcome {
  status: string;
  failureReason?: string;
  retryCount?: number;
}

/** A message a phone sent to the account's shortcode, as fetch-messages lists it. */
export interface IncomingSms {
  linkId: string;
  text: string;
  to: string;
  id: number;
  date: string;
  from: string;
}

/** One request the simulator received. */
export interface SimulatedSms {
  receivedAt: Date;
  username: string | null;
  /** The `apiKey` header as received (tests check what was sent; never log it). */
  apiKey: string | null;
  /** The `Accept` and `Content-Type` headers as received. */
  accept: string | null;
  contentType: string | null;
  /** The form body exactly as received. */
  rawBody: string;
  /** The `to` field as received, and split on commas. */
  to: string;
  numbers: string[];
  message: string | null;
  from: string | null;
  /** The HTTP status answered; null when the simulator held the request (`timeout`). */
  httpStatus: number | null;
  /** What happened: `Success`, an AT recipient status, or `Unauthorized`, `BadRequest`, `http500`, `unreadable`, `timeout`. */
  outcome: string;
  /** The per-recipient results of an AT-shaped reply (empty otherwise). */
  recipients: AtRecipient[];
}

export interface AfricasTalkingSmsSimulator {
  /** Base URL, e.g. `http://127.0.0.1:41234`: use it as `AT_BASE_URL`. */
  url: string;
  username: string;
  apiKey: string;
  /** Every request received, oldest first. */
  messages: SimulatedSms[];
  /** The requests that were accepted (outcome `Success`), optionally for one number (with or without `+`). */
  delivered(number?: string): SimulatedSms[];
  /** Fail the next `n` requests (only those to `options.to`, when given) in the given way. */
  failNext(n: number, mode: SimulatorFailure, options?: { to?: string }): void;
  /** Where delivery reports go from now on (undefined: nowhere). */
  setDeliveryReportUrl(url: string | undefined): void;
  /** How the delivery reports of this number's messages end, until changed. */
  setDeliveryOutcome(phoneNumber: string, outcome: DeliveryOutcome): void;
  /** The delivery reports posted so far, oldest first. */
  reports: SentDeliveryReport[];
  /** A message a phone sends to the account (listed by fetch-messages). */
  receive(message: { from: string; to: string; text: string; linkId?: string }): IncomingSms;
  /** Forget received messages and pending failures. */
  reset(): void;
  close(): Promise<void>;
}

const AUTH_FAILED = 'The supplied authentication is invalid';
const COST_PER_SMS = 0.8;
const E164 = /^\+\d{8,15}$/;

const plus = (n: string) => (n.startsWith('+') ? n : `+${n}`);

function reply(recipients: AtRecipient[]): AtSendReply {
  const sent = recipients.filter((r) => r.status === 'Success').length;
  const total = sent ? `KES ${(sent * COST_PER_SMS).toFixed(4)}` : '0';
  return {
    SMSMessageData: { Message: `Sent to ${sent}/${recipients.length} Total Cost: ${total}`, Recipients: recipients },
  };
}

function refused(number: string, status: string, statusCode: number): AtRecipient {
  return { statusCode, number, status, cost: '0', messageId: 'None' };
}

/** AT's documented delivery-report statuses (docs.africastalking.com/sms/notifications), and the two some networks add. */
const REPORT_STATUSES = new Set([
  'Sent',
  'Submitted',
  'Buffered',
  'Rejected',
  'Success',
  'Failed',
  'AbsentSubscriber',
  'Expired',
]);
/** The network code of Safaricom in AT's list. */
const SAFARICOM = '63902';
const FETCH_PAGE = 100;

export async function startAfricasTalkingSmsSimulator(
  options: AfricasTalkingSmsSimulatorOptions = {},
): Promise<AfricasTalkingSmsSimulator> {
  const username = options.username ?? 'sandbox';
  const apiKey = options.apiKey ?? 'simulator-api-key';
  const blacklist = new Set([...(options.blacklist ?? [])].map(plus));
  const messages: SimulatedSms[] = options.stateFile ? readMessages(options.stateFile) : [];
  const persist = () => {
    if (options.stateFile)
      writeStateFile(
        options.stateFile,
        JSON.stringify({ version: 1, messages: messages.map((m) => ({ ...m, apiKey: null })) }),
      );
  };
  let failures: { remaining: number; mode: SimulatorFailure; to?: string }[] = [];
  const held = new Set<FastifyReply>();
  let deliveryReportUrl = options.deliveryReportUrl;
  const reportDelayMs = options.deliveryReportDelayMs ?? 200;
  const deliveryOutcomes = new Map<string, DeliveryOutcome>();
  const reports: SentDeliveryReport[] = [];
  const incoming: IncomingSms[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const inFlight = new Set<Promise<void>>();

  /** Posts one report as AT does: form-urlencoded, to the URL of the moment. */
  const postReport = (url: string, report: SimulatedDeliveryReport) => {
    const sent: SentDeliveryReport = { url, report, httpStatus: null };
    reports.push(sent);
    const done = fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...report }).toString(),
      signal: AbortSignal.timeout(10_000),
    })
      .then(async (res) => {
        sent.httpStatus = res.status;
        await res.arrayBuffer();
      })
      .catch((e: unknown) => {
        sent.error = (e as Error).message;
      })
      .finally(() => inFlight.delete(done));
    inFlight.add(done);
  };
  const reportLater = (recipients: AtRecipient[]) => {
    const url = deliveryReportUrl;
    if (!url) return;
    for (const r of recipients) {
      if (r.status !== 'Success') continue;
      const chosen = deliveryOutcomes.get(r.number) ?? { status: 'Success' };
      const report: SimulatedDeliveryReport = {
        id: r.messageId,
        status: chosen.status,
        phoneNumber: r.number,
        networkCode: SAFARICOM,
        ...(chosen.failureReason ? { failureReason: chosen.failureReason } : {}),
        retryCount: String(chosen.retryCount ?? 0),
      };
      const timer = setTimeout(() => {
        timers.delete(timer);
        postReport(url, report);
      }, reportDelayMs);
      timers.add(timer);
    }
  };

  const { root, scope: app, owned } = await simulatorScope(options.server, {});
  app.addHook('onSend', (_request, _reply, payload, done) => {
    persist();
    done(null, payload);
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, body),
  );

  app.post('/version1/messaging', async (request, res) => {
    const rawBody = typeof request.body === 'string' ? request.body : '';
    const form = new URLSearchParams(rawBody);
    const header = request.headers.apikey;
    const to = form.get('to') ?? '';
    const record: SimulatedSms = {
      receivedAt: new Date(),
      username: form.get('username'),
      apiKey: typeof header === 'string' ? header : null,
      accept: request.headers.accept ?? null,
      contentType: request.headers['content-type'] ?? null,
      rawBody,
      to,
      numbers: to
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean),
      message: form.get('message'),
      from: form.get('from'),
      httpStatus: null,
      outcome: 'timeout',
      recipients: [],
    };
    messages.push(record);
    const answer = (
      status: number,
      outcome: string,
      body: string | AtSendReply,
      type = 'text/plain; charset=utf-8',
    ) => {
      record.httpStatus = status;
      record.outcome = outcome;
      if (typeof body !== 'string') record.recipients = body.SMSMessageData.Recipients;
      options.onMessage?.(record);
      return typeof body === 'string' ? res.status(status).type(type).send(body) : res.status(status).send(body);
    };

    if (record.apiKey !== apiKey || record.username !== username) return answer(401, 'Unauthorized', AUTH_FAILED);
    for (const field of ['username', 'to', 'message'] as const) {
      if (!form.get(field)) return answer(400, 'BadRequest', `Request is missing required form field '${field}'`);
    }

    const rule = failures.find((f) => f.remaining > 0 && (!f.to || record.numbers.includes(plus(f.to))));
    if (rule) {
      rule.remaining -= 1;
      failures = failures.filter((f) => f.remaining > 0);
      switch (rule.mode) {
        case 'http500':
          return answer(500, 'http500', 'There was an internal server error.');
        case 'unreadable':
          return answer(
            200,
            'unreadable',
            '<html><body><h1>Service Temporarily Unavailable</h1></body></html>',
            'text/html',
          );
        case 'blacklist':
          return answer(201, 'UserInBlacklist', reply(record.numbers.map((n) => refused(n, 'UserInBlacklist', 406))));
        case 'dnd':
          return answer(
            409,
            'DoNotDisturbRejection',
            reply(record.numbers.map((n) => refused(n, 'DoNotDisturbRejection', 409))),
          );
        case 'timeout':
          options.onMessage?.(record);
          held.add(res);
          res.raw.on('close', () => held.delete(res));
          return res; // never answered
      }
    }

    const recipients = record.numbers.map((n): AtRecipient => {
      if (!E164.test(n)) return refused(n, 'InvalidPhoneNumber', 403);
      if (blacklist.has(n)) return refused(n, 'UserInBlacklist', 406);
      return {
        statusCode: 101,
        number: n,
        status: 'Success',
        cost: `KES ${COST_PER_SMS.toFixed(4)}`,
        messageId: `ATXid_${randomBytes(16).toString('hex')}`,
      };
    });
    const outcome = recipients.every((r) => r.status === 'Success')
      ? 'Success'
      : recipients.find((r) => r.status !== 'Success')!.status;
    reportLater(recipients);
    return answer(201, outcome, reply(recipients));
  });

  /** Fetch messages: the incoming messages after lastReceivedId, oldest first. */
  app.get('/version1/messaging', (request, res) => {
    const query = request.query as { username?: string; lastReceivedId?: string };
    const header = request.headers.apikey;
    if (header !== apiKey || query.username !== username) {
      return res.status(401).type('text/plain; charset=utf-8').send(AUTH_FAILED);
    }
    const last = Number(query.lastReceivedId ?? '0');
    if (!Number.isInteger(last) || last < 0) {
      return res.status(400).type('text/plain; charset=utf-8').send('lastReceivedId must be a whole number');
    }
    const messages = incoming.filter((m) => m.id > last).slice(0, FETCH_PAGE);
    return res.status(200).send({ SMSMessageData: { Messages: messages } });
  });

  /** Control: a phone sends a message to the account's shortcode. */
  app.post('/simulator/sms/incoming', (request, res) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const { from, to, text, linkId } = body;
    if (typeof from !== 'string' || typeof to !== 'string' || typeof text !== 'string' || !from || !to) {
      return res.status(400).send({ error: 'from, to and text are required strings' });
    }
    if (linkId !== undefined && typeof linkId !== 'string')
      return res.status(400).send({ error: 'linkId must be a string' });
    return res.status(201).send(simulator.receive({ from, to, text, linkId }));
  });

  /** Control: how the delivery reports of a number's messages end. */
  app.post('/simulator/sms/outcomes', (request, res) => {
    const { phoneNumber, status, failureReason, retryCount } = (request.body ?? {}) as Record<string, unknown>;
    if (typeof phoneNumber !== 'string' || typeof status !== 'string') {
      return res.status(400).send({ error: 'phoneNumber and status are required strings' });
    }
    if (failureReason !== undefined && typeof failureReason !== 'string')
      return res.status(400).send({ error: 'failureReason must be a string' });
    if (retryCount !== undefined && !(Number.isInteger(retryCount) && (retryCount as number) >= 0))
      return res.status(400).send({ error: 'retryCount must be a whole number' });
    try {
      simulator.setDeliveryOutcome(phoneNumber, {
        status,
        failureReason,
        retryCount: retryCount as number | undefined,
      });
    } catch (e) {
      return res.status(400).send({ error: (e as Error).message });
    }
    return res.status(200).send({ phoneNumber: plus(phoneNumber), status });
  });

  /** Control: where delivery reports go (AT's dashboard setting). */
  app.post('/simulator/sms/delivery-report-url', (request, res) => {
    const { url } = (request.body ?? {}) as Record<string, unknown>;
    if (url !== null && (typeof url !== 'string' || !URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol))) {
      return res.status(400).send({ error: 'url must be an http(s) URL, or null for none' });
    }
    simulator.setDeliveryReportUrl(url ?? undefined);
    return res.status(200).send({ set: url !== null });
  });

  /** What a number received, newest first: for the browser phone simulator. */
  app.get('/simulator/messages', (request) => {
    const number = (request.query as { phoneNumber?: string }).phoneNumber;
    return simulator
      .delivered(number)
      .reverse()
      .map(({ receivedAt, numbers, message, from, recipients }) => ({
        receivedAt,
        numbers,
        message,
        from,
        recipients,
      }));
  });

  if (owned) await root.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 });

  const simulator: AfricasTalkingSmsSimulator = {
    get url() {
      return serverUrl(root);
    },
    username,
    apiKey,
    messages,
    delivered(number) {
      const wanted = number === undefined ? undefined : plus(number);
      return messages.filter((m) => m.outcome === 'Success' && (!wanted || m.numbers.includes(wanted)));
    },
    failNext(n, mode, opts = {}) {
      if (!Number.isInteger(n) || n < 1) throw new Error('failNext: n must be a positive integer');
      failures.push({ remaining: n, mode, to: opts.to });
    },
    reports,
    setDeliveryReportUrl(url) {
      deliveryReportUrl = url;
    },
    setDeliveryOutcome(phoneNumber, outcome) {
      if (!REPORT_STATUSES.has(outcome.status))
        throw new Error(`status must be one of ${[...REPORT_STATUSES].join(', ')}`);
      if (outcome.status === 'Success') deliveryOutcomes.delete(plus(phoneNumber));
      else deliveryOutcomes.set(plus(phoneNumber), outcome);
    },
    receive({ from, to, text, linkId }) {
      const message: IncomingSms = {
        linkId: linkId ?? randomBytes(8).toString('hex'),
        text,
        to,
        id: (incoming.at(-1)?.id ?? 0) + 1,
        date: new Date().toISOString(),
        from,
      };
      incoming.push(message);
      return message;
    },
    reset() {
      messages.length = 0;
      failures = [];
      deliveryOutcomes.clear();
      reports.length = 0;
      incoming.length = 0;
      persist();
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.all([...inFlight]);
      for (const r of held) r.raw.destroy();
      held.clear();
      if (owned) await root.close();
    },
  };
  return simulator;
}

function readMessages(file: string): SimulatedSms[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const state = JSON.parse(text) as { version: number; messages: SimulatedSms[] };
  if (state.version !== 1) throw new Error(`${file}: unknown simulator state version ${String(state.version)}`);
  return state.messages.map((m) => ({ ...m, receivedAt: new Date(m.receivedAt) }));
}
