/**
 * The USSD gateways' wire formats ("dialects"), read into one shape and written back.
 *
 * Pure functions: no Nest, no I/O. The controller picks a dialect, `parseInbound` turns the body
 * into an `InboundUssd` (or throws `DialectError` for a malformed request), the engine answers with
 * a `UssdReply`, and `renderReply` writes it the way that gateway expects.
 */

export const GATEWAYS = ['africastalking', 'generic', 'hubtel', 'nalo', 'arkesel'] as const;
export type GatewayName = (typeof GATEWAYS)[number];

/** Longest user text accepted from any gateway (a USSD string is far shorter; this bounds abuse). */
export const MAX_TEXT_LENGTH = 500;
/** Longest session or request id accepted. */
export const MAX_ID_LENGTH = 100;
/** Longest phone number accepted, as sent (normalising is the caller's job). */
const MAX_PHONE_LENGTH = 32;
/** Longest service code accepted. */
const MAX_SERVICE_CODE_LENGTH = 100;
/** Longest opaque value we echo back (Hubtel ClientState, Nalo USERID, Arkesel userID). */
const MAX_ECHO_LENGTH = 1000;

/** One gateway request, normalised. */
export interface InboundUssd {
  gateway: GatewayName;
  /** Stable per USSD session (for Nalo, which has no session id, derive one from USERID and MSISDN). */
  sessionId: string;
  /** As the gateway sent it (normalising to 2547… is the caller's job). */
  phoneNumber: string;
  /**
   * As the gateway sent it. Nalo and Arkesel send none: it is `ParseOptions.serviceCode` when given,
   * else the dial string itself on the first request of a session and '' afterwards.
   */
  serviceCode: string;
  /**
   * 'accumulated': `text` is every input so far joined by '*' (Africa's Talking).
   * 'latest': `text` is only the newest input ('' when there is none yet).
   * 'dial': `text` is the inputs carried by the dial string itself, joined by '*' ('' for a plain
   *         dial such as *383#; '1*0722000000' for *383*1*0722000000#) — Hubtel Initiation.
   */
  textMode: 'accumulated' | 'latest' | 'dial';
  text: string;
  /** True when the gateway says this request opens a new session (Hubtel Initiation, Nalo MSGTYPE true, Arkesel newSession true); undefined when the dialect does not say. */
  isNewSession?: boolean;
  /** True when the gateway tells us the session is over (Hubtel Release/Timeout): no screen is shown to anyone. */
  isClosing?: boolean;
  /** A per-request id when the dialect has one (generic requestId; Hubtel `${SessionId}:${Sequence}`), for retry detection. */
  requestId?: string;
  /** Opaque values the reply must echo (Nalo USERID, Arkesel userID, Hubtel ClientState…). */
  echo: Record<string, unknown>;
}

export interface UssdReply {
  message: string;
  end: boolean;
}

export interface RenderedReply {
  contentType: string;
  body: string;
}

export interface ParseOptions {
  /**
   * The service code this deployment answers on (e.g. '*920*1234#'). Nalo and Arkesel send only the
   * dial string, not the code, so without this nobody can tell where the code ends and shortcut
   * inputs begin: with it, '*920*1234*1#' gives text '1'; without it, text is '' (plain dial).
   */
  serviceCode?: string;
}

/** A request we cannot read. `message` is a short reason naming the field, e.g. "phoneNumber is required". */
export class DialectError extends Error {
  override readonly name = 'DialectError';
}

const TEXT_PLAIN = 'text/plain; charset=utf-8';
const APPLICATION_JSON = 'application/json; charset=utf-8';

export function isGateway(name: string): name is GatewayName {
  return (GATEWAYS as readonly string[]).includes(name);
}

/** Which dialect `POST /api/ussd/handler` (no gateway in the path) uses for a content type. */
export function gatewayForContentType(contentType: string | undefined): GatewayName | null {
  if (typeof contentType !== 'string') return null;
  const mediaType = contentType.split(';', 1)[0].trim().toLowerCase();
  if (mediaType === 'application/x-www-form-urlencoded') return 'africastalking';
  if (mediaType === 'application/json') return 'generic';
  return null;
}

/** Throws DialectError on a malformed request. Unknown extra fields are ignored. */
export function parseInbound(gateway: GatewayName, body: unknown, options: ParseOptions = {}): InboundUssd {
  const fields = asRecord(body);
  switch (gateway) {
    case 'africastalking':
      return parseAfricasTalking(fields);
    case 'generic':
      return parseGeneric(fields);
    case 'hubtel':
      return parseHubtel(fields);
    case 'nalo':
      return parseNalo(fields, options);
    case 'arkesel':
      return parseArkesel(fields, options);
    default:
      throw new DialectError(`unknown gateway ${String(gateway)}`);
  }
}

export function renderReply(gateway: GatewayName, reply: UssdReply, inbound: InboundUssd): RenderedReply {
  switch (gateway) {
    case 'africastalking':
      return { contentType: TEXT_PLAIN, body: `${reply.end ? 'END' : 'CON'} ${reply.message}` };
    case 'generic':
      return json({ responseType: reply.end ? 'notification' : 'input', message: reply.message });
    case 'hubtel':
      return json({
        Type: reply.end ? 'Release' : 'Response',
        Message: reply.message,
        ClientState: echoed(inbound, 'ClientState', ''),
      });
    case 'nalo':
      return json({
        USERID: echoed(inbound, 'USERID', ''),
        MSISDN: echoed(inbound, 'MSISDN', inbound.phoneNumber),
        MSG: reply.message,
        MSGTYPE: !reply.end,
      });
    case 'arkesel':
      return json({
        sessionID: echoed(inbound, 'sessionID', inbound.sessionId),
        userID: echoed(inbound, 'userID', ''),
        msisdn: echoed(inbound, 'msisdn', inbound.phoneNumber),
        message: reply.message,
        continueSession: !reply.end,
      });
    default:
      throw new DialectError(`unknown gateway ${String(gateway)}`);
  }
}

/**
 * The reply for a request that could not be read, for gateways that must always get a screen
 * (Africa's Talking: text/plain "END …"). Returns null for JSON gateways, which get a 400 instead.
 */
export function renderUnreadable(gateway: GatewayName, message: string): RenderedReply | null {
  return gateway === 'africastalking' ? { contentType: TEXT_PLAIN, body: `END ${message}` } : null;
}

// --- Africa's Talking: form-urlencoded, text accumulates every input joined by '*' ---------------

function parseAfricasTalking(f: Fields): InboundUssd {
  optionalString(f, 'networkCode', MAX_ID_LENGTH);
  return {
    gateway: 'africastalking',
    sessionId: requiredString(f, 'sessionId', MAX_ID_LENGTH),
    phoneNumber: requiredString(f, 'phoneNumber', MAX_PHONE_LENGTH),
    serviceCode: requiredString(f, 'serviceCode', MAX_SERVICE_CODE_LENGTH),
    textMode: 'accumulated',
    // Some captures omit `text` on the dial request instead of sending it empty.
    text: optionalString(f, 'text', MAX_TEXT_LENGTH) ?? '',
    echo: {},
  };
}

// --- Generic JSON (the seed's format): text is the latest input only -----------------------------

function parseGeneric(f: Fields): InboundUssd {
  const requestId = optionalString(f, 'requestId', MAX_ID_LENGTH);
  return {
    gateway: 'generic',
    sessionId: requiredString(f, 'sessionId', MAX_ID_LENGTH),
    phoneNumber: requiredString(f, 'phoneNumber', MAX_PHONE_LENGTH),
    serviceCode: requiredString(f, 'serviceCode', MAX_SERVICE_CODE_LENGTH),
    textMode: 'latest',
    text: optionalString(f, 'text', MAX_TEXT_LENGTH) ?? '',
    ...(requestId ? { requestId } : {}),
    echo: {},
  };
}

// --- Hubtel Programmable Services ----------------------------------------------------------------

const HUBTEL_TYPES = ['initiation', 'response', 'release', 'timeout'] as const;
type HubtelType = (typeof HUBTEL_TYPES)[number];

function parseHubtel(f: Fields): InboundUssd {
  const sessionId = requiredString(f, 'SessionId', MAX_ID_LENGTH);
  const phoneNumber = requiredString(f, 'Mobile', MAX_PHONE_LENGTH);
  const serviceCode = requiredString(f, 'ServiceCode', MAX_SERVICE_CODE_LENGTH);
  const type = hubtelType(f);
  // Only a Response must carry the user's input; Initiation from Hubtel's apps and Release may not.
  const message =
    type === 'response'
      ? requiredString(f, 'Message', MAX_TEXT_LENGTH, true)
      : (optionalString(f, 'Message', MAX_TEXT_LENGTH) ?? '');
  optionalString(f, 'Operator', MAX_ID_LENGTH);
  const sequence = hubtelSequence(f);
  const clientState = optionalString(f, 'ClientState', MAX_ECHO_LENGTH);

  const base = {
    gateway: 'hubtel' as const,
    sessionId,
    phoneNumber,
    serviceCode,
    ...(sequence === undefined ? {} : { requestId: `${sessionId}:${sequence}` }),
    echo: clientState === undefined ? {} : { ClientState: clientState },
  };
  switch (type) {
    case 'initiation':
      return { ...base, textMode: 'dial', text: dialInputs(message, serviceCode), isNewSession: true };
    case 'response':
      return { ...base, textMode: 'latest', text: message, isNewSession: false };
    case 'release':
    case 'timeout':
      return { ...base, textMode: 'latest', text: message, isNewSession: false, isClosing: true };
  }
}

/** Hubtel's current docs write the types lower-case ("initiation"); older integrations capitalise them. */
function hubtelType(f: Fields): HubtelType {
  const raw = requiredString(f, 'Type', MAX_ID_LENGTH);
  const type = raw.toLowerCase();
  if (!(HUBTEL_TYPES as readonly string[]).includes(type)) {
    throw new DialectError('Type must be Initiation, Response, Release or Timeout');
  }
  return type as HubtelType;
}

/** Hubtel documents Sequence as a string ("1"); older integrations sent a number. */
function hubtelSequence(f: Fields): string | undefined {
  const value = field(f, 'Sequence');
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value === 'string' && value.length <= 20) return value;
  throw new DialectError('Sequence must be a string or a whole number');
}

// --- Nalo: no session id, no service code; MSGTYPE true on the first request ----------------------

function parseNalo(f: Fields, options: ParseOptions): InboundUssd {
  const userId = requiredString(f, 'USERID', 50);
  const msisdn = requiredString(f, 'MSISDN', MAX_PHONE_LENGTH);
  const isNewSession = requiredBoolean(f, 'MSGTYPE');
  const userData = optionalString(f, 'USERDATA', MAX_TEXT_LENGTH) ?? '';
  optionalString(f, 'NETWORK', MAX_ID_LENGTH);
  return {
    gateway: 'nalo',
    // Per user, not per session: the caller starts afresh whenever MSGTYPE says a session opens.
    sessionId: `nalo:${userId}:${msisdn}`,
    phoneNumber: msisdn,
    ...dialOrLatest(isNewSession, userData, options),
    isNewSession,
    echo: { USERID: userId, MSISDN: msisdn },
  };
}

// --- Arkesel --------------------------------------------------------------------------------------

function parseArkesel(f: Fields, options: ParseOptions): InboundUssd {
  const sessionId = requiredString(f, 'sessionID', MAX_ID_LENGTH);
  const userId = requiredString(f, 'userID', MAX_ECHO_LENGTH);
  const msisdn = requiredString(f, 'msisdn', MAX_PHONE_LENGTH);
  const isNewSession = requiredBoolean(f, 'newSession');
  const userData = optionalString(f, 'userData', MAX_TEXT_LENGTH) ?? '';
  optionalString(f, 'network', MAX_ID_LENGTH);
  return {
    gateway: 'arkesel',
    sessionId,
    phoneNumber: msisdn,
    ...dialOrLatest(isNewSession, userData, options),
    isNewSession,
    echo: { sessionID: sessionId, userID: userId, msisdn },
  };
}

/** For gateways that send the dial string on the first request but never the service code. */
function dialOrLatest(
  isNewSession: boolean,
  userData: string,
  options: ParseOptions,
): Pick<InboundUssd, 'serviceCode' | 'textMode' | 'text'> {
  const configured = options.serviceCode;
  if (!isNewSession) return { serviceCode: configured ?? '', textMode: 'latest', text: userData };
  if (configured === undefined) {
    // Without the code we cannot tell a shortcut (*920*1#) from a shared code's extension
    // (*920*1234#); replaying an extension as a menu choice would be worse than showing the menu.
    return { serviceCode: userData, textMode: 'dial', text: '' };
  }
  return { serviceCode: configured, textMode: 'dial', text: dialInputs(userData, configured) };
}

/**
 * The inputs a dial string carries after its service code: ('*383*1*0722000000#', '*383#') →
 * '1*0722000000'. Tolerates codes written without '*' or '#' ('711*2', '7112#'), as Hubtel shows
 * them. A dial string that is not for this code (or is blank, as from Hubtel's apps) carries none.
 */
function dialInputs(dial: string, serviceCode: string): string {
  const inputs = bareDial(dial);
  const code = bareDial(serviceCode);
  if (code === '' || !inputs.startsWith(`${code}*`)) return '';
  return inputs.slice(code.length + 1);
}

function bareDial(value: string): string {
  return value.trim().replace(/^\*/, '').replace(/#$/, '');
}

// --- Field readers ----------------------------------------------------------------------------------

type Fields = Record<string, unknown>;

function asRecord(body: unknown): Fields {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new DialectError('body must be an object');
  }
  // Fastify's form parser gives objects with a bare prototype, JSON.parse plain ones (possibly
  // from another realm): accept any ordinary object; Date, Map and the like are refused.
  if (Object.prototype.toString.call(body) !== '[object Object]') throw new DialectError('body must be an object');
  return body as Fields;
}

/** Own properties only: a body with no `toString` field must not read Object.prototype's. */
function field(f: Fields, name: string): unknown {
  return Object.hasOwn(f, name) ? f[name] : undefined;
}

function requiredString(f: Fields, name: string, maxLength: number, allowEmpty = false): string {
  const value = field(f, name);
  if (value === undefined || value === null || (value === '' && !allowEmpty)) {
    throw new DialectError(`${name} is required`);
  }
  if (typeof value !== 'string') throw new DialectError(`${name} must be a string`);
  if (value.length > maxLength) throw new DialectError(`${name} is too long (at most ${maxLength} characters)`);
  return value;
}

function optionalString(f: Fields, name: string, maxLength: number): string | undefined {
  const value = field(f, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new DialectError(`${name} must be a string`);
  if (value.length > maxLength) throw new DialectError(`${name} is too long (at most ${maxLength} characters)`);
  return value;
}

/** A JSON boolean, or the strings "true"/"false" some gateways send instead. */
function requiredBoolean(f: Fields, name: string): boolean {
  const value = field(f, name);
  if (value === undefined || value === null || value === '') throw new DialectError(`${name} is required`);
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const lower = value.trim().toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  throw new DialectError(`${name} must be true or false`);
}

function echoed(inbound: InboundUssd, key: string, fallback: string): unknown {
  const value = inbound.echo[key];
  return value === undefined ? fallback : value;
}

function json(value: Record<string, unknown>): RenderedReply {
  return { contentType: APPLICATION_JSON, body: JSON.stringify(value) };
}
