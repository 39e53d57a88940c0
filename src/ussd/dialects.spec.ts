import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import {
  DialectError,
  GATEWAYS,
  MAX_TEXT_LENGTH,
  gatewayForContentType,
  isGateway,
  parseInbound,
  renderReply,
  renderUnreadable,
  type GatewayName,
  type InboundUssd,
} from './dialects.js';

// The providers' published payloads, byte for byte (origins in test/fixtures/providers/SOURCES.md).
function fixture(name: string): string {
  return readFileSync(path.resolve(process.cwd(), 'test/fixtures/providers', name), 'utf8');
}

/** What Fastify's formbody hands the handler: a (null-prototype) object of strings. */
function formBody(raw: string): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const [key, value] of new URLSearchParams(raw)) out[key] = value;
  return out;
}

function parseError(gateway: GatewayName, body: unknown): string {
  try {
    parseInbound(gateway, body);
  } catch (e) {
    if (e instanceof DialectError) return e.message;
    throw e;
  }
  throw new Error('expected a DialectError');
}

const CON = { message: 'Pick one\n1. Yes', end: false };
const END = { message: 'Goodbye', end: true };

describe("Africa's Talking", () => {
  const first = () => parseInbound('africastalking', formBody(fixture('at-ussd-request-first-dial.txt')));

  it('reads the captured first-dial request byte for byte', () => {
    expect(first()).toEqual({
      gateway: 'africastalking',
      sessionId: 'ATUid_7c898d72eb11f723ed8ea05ef232f279',
      phoneNumber: '+254739495441',
      serviceCode: '*384*44135#',
      textMode: 'accumulated',
      text: '',
      echo: {},
    });
  });

  it('treats an absent text as the dial request', () => {
    const inbound = parseInbound('africastalking', {
      sessionId: 's',
      phoneNumber: '+254700000001',
      serviceCode: '*383#',
    });
    expect(inbound.text).toBe('');
    expect(inbound.isNewSession).toBeUndefined();
  });

  it('keeps the accumulated text as sent, stars and all', () => {
    const inbound = parseInbound(
      'africastalking',
      formBody('sessionId=s&phoneNumber=%2B254700000001&serviceCode=*383%23&text=1*0722000000'),
    );
    expect(inbound.text).toBe('1*0722000000');
    expect(inbound.textMode).toBe('accumulated');
  });

  it('renders CON and END replies in the shape of the published replies', () => {
    const continuing = renderReply('africastalking', CON, first());
    const ending = renderReply('africastalking', END, first());
    expect(continuing).toEqual({ contentType: 'text/plain; charset=utf-8', body: 'CON Pick one\n1. Yes' });
    expect(ending).toEqual({ contentType: 'text/plain; charset=utf-8', body: 'END Goodbye' });
    expect(fixture('at-ussd-response-first-dial.txt').startsWith('CON ')).toBe(true);
    expect(fixture('at-ussd-response-end-1x1.txt').startsWith('END ')).toBe(true);
    expect(continuing.body.slice(0, 4)).toBe(fixture('at-ussd-response-first-dial.txt').slice(0, 4));
    expect(ending.body.slice(0, 4)).toBe(fixture('at-ussd-response-end-1x1.txt').slice(0, 4));
  });

  it('answers an unreadable request with an END screen', () => {
    expect(renderUnreadable('africastalking', 'Service unavailable')).toEqual({
      contentType: 'text/plain; charset=utf-8',
      body: 'END Service unavailable',
    });
  });
});

describe('generic JSON', () => {
  const body = { sessionId: 'abc', phoneNumber: '254701234567', text: '1', serviceCode: '*383' };

  it('reads the seed format', () => {
    expect(parseInbound('generic', body)).toEqual({
      gateway: 'generic',
      sessionId: 'abc',
      phoneNumber: '254701234567',
      serviceCode: '*383',
      textMode: 'latest',
      text: '1',
      echo: {},
    });
  });

  it('takes an optional requestId and an absent text', () => {
    const inbound = parseInbound('generic', { ...body, text: undefined, requestId: 'r-1' });
    expect(inbound.requestId).toBe('r-1');
    expect(inbound.text).toBe('');
  });

  it('ignores extra fields', () => {
    expect(parseInbound('generic', { ...body, extra: { nested: [1, 2] } }).text).toBe('1');
  });

  it('renders input and notification replies', () => {
    const inbound = parseInbound('generic', body);
    expect(renderReply('generic', CON, inbound)).toEqual({
      contentType: 'application/json; charset=utf-8',
      body: JSON.stringify({ responseType: 'input', message: CON.message }),
    });
    expect(JSON.parse(renderReply('generic', END, inbound).body)).toEqual({
      responseType: 'notification',
      message: 'Goodbye',
    });
    expect(renderUnreadable('generic', 'x')).toBeNull();
  });
});

describe('Hubtel', () => {
  const base = {
    Mobile: '233244000000',
    SessionId: '8d440a43a98b4614b9df22b79c8190b8',
    ServiceCode: '*383#',
    Operator: 'mtn',
    ClientState: '',
  };

  it('reads a plain Initiation as a dial with no inputs', () => {
    const inbound = parseInbound('hubtel', { ...base, Type: 'Initiation', Message: '*383#', Sequence: 1 });
    expect(inbound).toEqual({
      gateway: 'hubtel',
      sessionId: base.SessionId,
      phoneNumber: '233244000000',
      serviceCode: '*383#',
      textMode: 'dial',
      text: '',
      isNewSession: true,
      requestId: `${base.SessionId}:1`,
      echo: { ClientState: '' },
    });
  });

  it('reads the inputs a shortcut dial string carries', () => {
    const inbound = parseInbound('hubtel', {
      ...base,
      Type: 'Initiation',
      Message: '*383*1*0722000000#',
      Sequence: '1',
    });
    expect(inbound.textMode).toBe('dial');
    expect(inbound.text).toBe('1*0722000000');
  });

  it('accepts the lower-case types and bare service codes of the current docs', () => {
    const inbound = parseInbound('hubtel', { ...base, ServiceCode: '711*2', Type: 'initiation', Message: '*711*2*5#' });
    expect(inbound.text).toBe('5');
    expect(inbound.isNewSession).toBe(true);
    expect(inbound.requestId).toBeUndefined();
  });

  it('carries no inputs when the dial string is not for this code or is blank', () => {
    expect(parseInbound('hubtel', { ...base, Type: 'Initiation', Message: '*384*1#' }).text).toBe('');
    expect(
      parseInbound('hubtel', { ...base, ServiceCode: 'b230733cd56b4a0f', Type: 'initiation', Message: '' }).text,
    ).toBe('');
    expect(parseInbound('hubtel', { ...base, Type: 'Initiation', Message: '*3831#' }).text).toBe('');
  });

  it('reads a Response as the latest input', () => {
    const inbound = parseInbound('hubtel', {
      ...base,
      Type: 'Response',
      Message: '2',
      Sequence: 2,
      ClientState: 'menu',
    });
    expect(inbound).toMatchObject({
      textMode: 'latest',
      text: '2',
      isNewSession: false,
      requestId: `${base.SessionId}:2`,
    });
    expect(inbound.isClosing).toBeUndefined();
  });

  it.each(['Release', 'Timeout', 'release'])('reads %s as closing', (Type) => {
    const inbound = parseInbound('hubtel', {
      Mobile: base.Mobile,
      SessionId: base.SessionId,
      ServiceCode: base.ServiceCode,
      Type,
    });
    expect(inbound.isClosing).toBe(true);
    expect(inbound.isNewSession).toBe(false);
  });

  it('renders Response and Release, echoing ClientState', () => {
    const inbound = parseInbound('hubtel', { ...base, Type: 'Response', Message: '1', ClientState: 'step-2' });
    expect(renderReply('hubtel', CON, inbound)).toEqual({
      contentType: 'application/json; charset=utf-8',
      body: JSON.stringify({ Type: 'Response', Message: CON.message, ClientState: 'step-2' }),
    });
    const withoutState = parseInbound('hubtel', { ...base, ClientState: undefined, Type: 'Response', Message: '1' });
    expect(JSON.parse(renderReply('hubtel', END, withoutState).body)).toEqual({
      Type: 'Release',
      Message: 'Goodbye',
      ClientState: '',
    });
    expect(renderUnreadable('hubtel', 'x')).toBeNull();
  });
});

describe('Nalo', () => {
  const base = { USERID: 'NALOTest', MSISDN: '233501234567', NETWORK: 'MTN' };

  it('reads the first request (MSGTYPE true) as a dial', () => {
    const inbound = parseInbound('nalo', { ...base, USERDATA: '*920*1234#', MSGTYPE: true });
    expect(inbound).toEqual({
      gateway: 'nalo',
      sessionId: 'nalo:NALOTest:233501234567',
      phoneNumber: '233501234567',
      serviceCode: '*920*1234#',
      textMode: 'dial',
      text: '',
      isNewSession: true,
      echo: { USERID: 'NALOTest', MSISDN: '233501234567' },
    });
  });

  it('splits a shortcut dial when told the service code', () => {
    const inbound = parseInbound(
      'nalo',
      { ...base, USERDATA: '*920*1234*1*0244000000#', MSGTYPE: 'true' },
      { serviceCode: '*920*1234#' },
    );
    expect(inbound).toMatchObject({
      serviceCode: '*920*1234#',
      textMode: 'dial',
      text: '1*0244000000',
      isNewSession: true,
    });
  });

  it('accepts MSGTYPE as the string "false" for a later request', () => {
    const inbound = parseInbound('nalo', { ...base, USERDATA: '3', MSGTYPE: 'false' });
    expect(inbound).toMatchObject({ textMode: 'latest', text: '3', isNewSession: false, serviceCode: '' });
    expect(inbound.sessionId).toBe('nalo:NALOTest:233501234567');
  });

  it('renders MSGTYPE true to continue and false to end', () => {
    const inbound = parseInbound('nalo', { ...base, USERDATA: '1', MSGTYPE: false });
    expect(JSON.parse(renderReply('nalo', CON, inbound).body)).toEqual({
      USERID: 'NALOTest',
      MSISDN: '233501234567',
      MSG: CON.message,
      MSGTYPE: true,
    });
    expect(JSON.parse(renderReply('nalo', END, inbound).body)).toMatchObject({ MSGTYPE: false, MSG: 'Goodbye' });
    expect(renderReply('nalo', END, inbound).contentType).toBe('application/json; charset=utf-8');
  });
});

describe('Arkesel', () => {
  const base = { sessionID: 'ark-1', userID: 'deni-app', msisdn: '233244000000', network: 'MTN' };

  it('reads newSession true as a dial', () => {
    const inbound = parseInbound('arkesel', { ...base, newSession: true, userData: '*928*01#' });
    expect(inbound).toEqual({
      gateway: 'arkesel',
      sessionId: 'ark-1',
      phoneNumber: '233244000000',
      serviceCode: '*928*01#',
      textMode: 'dial',
      text: '',
      isNewSession: true,
      echo: { sessionID: 'ark-1', userID: 'deni-app', msisdn: '233244000000' },
    });
    const shortcut = parseInbound(
      'arkesel',
      { ...base, newSession: true, userData: '*928*01*4#' },
      { serviceCode: '*928*01#' },
    );
    expect(shortcut.text).toBe('4');
  });

  it('reads a later request as the latest input', () => {
    expect(parseInbound('arkesel', { ...base, newSession: false, userData: '2' })).toMatchObject({
      textMode: 'latest',
      text: '2',
      isNewSession: false,
    });
  });

  it('renders continueSession', () => {
    const inbound = parseInbound('arkesel', { ...base, newSession: false, userData: '2' });
    expect(JSON.parse(renderReply('arkesel', CON, inbound).body)).toEqual({
      sessionID: 'ark-1',
      userID: 'deni-app',
      msisdn: '233244000000',
      message: CON.message,
      continueSession: true,
    });
    expect(JSON.parse(renderReply('arkesel', END, inbound).body)).toMatchObject({ continueSession: false });
  });
});

describe('malformed requests', () => {
  const valid: Record<GatewayName, Record<string, unknown>> = {
    africastalking: { sessionId: 's', phoneNumber: '+254700000001', serviceCode: '*383#', text: '1' },
    generic: { sessionId: 's', phoneNumber: '254700000001', serviceCode: '*383', text: '1' },
    hubtel: { SessionId: 's', Mobile: '233244000000', ServiceCode: '*383#', Type: 'Response', Message: '1' },
    nalo: { USERID: 'u', MSISDN: '233501234567', USERDATA: '1', MSGTYPE: false },
    arkesel: { sessionID: 's', userID: 'u', msisdn: '233244000000', newSession: false, userData: '1' },
  };
  const required: Record<GatewayName, string[]> = {
    africastalking: ['sessionId', 'phoneNumber', 'serviceCode'],
    generic: ['sessionId', 'phoneNumber', 'serviceCode'],
    hubtel: ['SessionId', 'Mobile', 'ServiceCode', 'Type', 'Message'],
    nalo: ['USERID', 'MSISDN', 'MSGTYPE'],
    arkesel: ['sessionID', 'userID', 'msisdn', 'newSession'],
  };
  const textField: Record<GatewayName, string> = {
    africastalking: 'text',
    generic: 'text',
    hubtel: 'Message',
    nalo: 'USERDATA',
    arkesel: 'userData',
  };
  const sessionField: Partial<Record<GatewayName, string>> = {
    africastalking: 'sessionId',
    generic: 'sessionId',
    hubtel: 'SessionId',
    arkesel: 'sessionID',
  };

  it.each(GATEWAYS)('%s: the valid body parses', (gateway) => {
    expect(parseInbound(gateway, valid[gateway]).gateway).toBe(gateway);
  });

  it.each(GATEWAYS)('%s: refuses bodies that are not plain objects', (gateway) => {
    for (const body of [null, undefined, [], [valid[gateway]], 'x', 42, true, new Date(), new Map()]) {
      expect(parseError(gateway, body)).toBe('body must be an object');
    }
  });

  it.each(GATEWAYS)('%s: names each missing field', (gateway) => {
    for (const name of required[gateway]) {
      const body = { ...valid[gateway] };
      delete body[name];
      expect(parseError(gateway, body)).toBe(`${name} is required`);
      expect(parseError(gateway, { ...valid[gateway], [name]: null })).toBe(`${name} is required`);
    }
  });

  it.each(GATEWAYS)('%s: refuses numbers, objects and arrays where a string is needed', (gateway) => {
    const stringFields = required[gateway].filter((name) => !['MSGTYPE', 'newSession'].includes(name));
    for (const name of [...stringFields, textField[gateway]]) {
      for (const wrong of [42, { a: 1 }, ['1'], true]) {
        expect(parseError(gateway, { ...valid[gateway], [name]: wrong })).toBe(`${name} must be a string`);
      }
    }
  });

  it.each(GATEWAYS)(
    `%s: refuses text over ${MAX_TEXT_LENGTH} characters and accepts exactly ${MAX_TEXT_LENGTH}`,
    (gateway) => {
      const name = textField[gateway];
      expect(parseError(gateway, { ...valid[gateway], [name]: '1'.repeat(MAX_TEXT_LENGTH + 1) })).toBe(
        `${name} is too long (at most ${MAX_TEXT_LENGTH} characters)`,
      );
      expect(() => parseInbound(gateway, { ...valid[gateway], [name]: '1'.repeat(MAX_TEXT_LENGTH) })).not.toThrow();
    },
  );

  it.each(Object.entries(sessionField))('%s: refuses a session id over 100 characters', (gateway, name) => {
    const g = gateway as GatewayName;
    expect(parseError(g, { ...valid[g], [name]: 's'.repeat(101) })).toBe(
      `${name} is too long (at most 100 characters)`,
    );
    expect(() => parseInbound(g, { ...valid[g], [name]: 's'.repeat(100) })).not.toThrow();
  });

  it('refuses an empty session id and phone number', () => {
    expect(parseError('generic', { ...valid.generic, sessionId: '' })).toBe('sessionId is required');
    expect(parseError('africastalking', { ...valid.africastalking, phoneNumber: '' })).toBe('phoneNumber is required');
  });

  it('refuses a repeated form field (formbody makes it an array)', () => {
    const body = formBody('sessionId=a&sessionId=b&phoneNumber=1&serviceCode=*1%23');
    body.sessionId = ['a', 'b'] as unknown as string;
    expect(parseError('africastalking', body)).toBe('sessionId must be a string');
  });

  it('refuses an over-long generic requestId', () => {
    expect(parseError('generic', { ...valid.generic, requestId: 'r'.repeat(101) })).toBe(
      'requestId is too long (at most 100 characters)',
    );
    expect(parseError('generic', { ...valid.generic, requestId: 7 })).toBe('requestId must be a string');
  });

  it('refuses unknown Hubtel types and odd Sequences', () => {
    expect(parseError('hubtel', { ...valid.hubtel, Type: 'AddToCart' })).toBe(
      'Type must be Initiation, Response, Release or Timeout',
    );
    expect(parseError('hubtel', { ...valid.hubtel, Type: 3 })).toBe('Type must be a string');
    expect(parseError('hubtel', { ...valid.hubtel, Sequence: { n: 1 } })).toBe(
      'Sequence must be a string or a whole number',
    );
    expect(parseError('hubtel', { ...valid.hubtel, Sequence: 1.5 })).toBe(
      'Sequence must be a string or a whole number',
    );
  });

  it('refuses Nalo MSGTYPE and Arkesel newSession that are not booleans', () => {
    for (const wrong of [1, 0, 'yes', {}, []]) {
      expect(parseError('nalo', { ...valid.nalo, MSGTYPE: wrong })).toBe('MSGTYPE must be true or false');
      expect(parseError('arkesel', { ...valid.arkesel, newSession: wrong })).toBe('newSession must be true or false');
    }
  });

  it('does not read fields from the prototype chain', () => {
    const body = Object.create(null) as Record<string, unknown>;
    Object.assign(body, { phoneNumber: '1', serviceCode: '*1#' });
    expect(parseError('africastalking', body)).toBe('sessionId is required');
    expect(
      parseInbound('generic', { ...valid.generic, constructor: 'x', toString: 1, hasOwnProperty: null }).text,
    ).toBe('1');
  });
});

describe('gatewayForContentType', () => {
  it.each([
    ['application/x-www-form-urlencoded', 'africastalking'],
    ['application/x-www-form-urlencoded; charset=UTF-8', 'africastalking'],
    ['Application/X-WWW-Form-Urlencoded;charset=utf-8', 'africastalking'],
    ['application/json', 'generic'],
    ['application/json; charset=utf-8', 'generic'],
    [' APPLICATION/JSON ', 'generic'],
    ['text/plain', null],
    ['multipart/form-data; boundary=x', null],
    ['application/jsonx', null],
    ['', null],
    [undefined, null],
  ])('%p → %p', (contentType, gateway) => {
    expect(gatewayForContentType(contentType)).toBe(gateway);
  });
});

describe('isGateway', () => {
  it('knows the five gateways and nothing else', () => {
    for (const gateway of GATEWAYS) expect(isGateway(gateway)).toBe(true);
    for (const name of ['', 'AfricasTalking', 'safaricom', 'toString', '__proto__'])
      expect(isGateway(name)).toBe(false);
  });
});

describe('parseInbound on arbitrary input', () => {
  function onlyDialectErrors(gateway: GatewayName, body: unknown): void {
    let inbound: InboundUssd;
    try {
      inbound = parseInbound(gateway, body);
    } catch (e) {
      expect(e).toBeInstanceOf(DialectError);
      return;
    }
    expect(inbound.gateway).toBe(gateway);
    expect(typeof inbound.sessionId).toBe('string');
    expect(inbound.text.length).toBeLessThanOrEqual(MAX_TEXT_LENGTH);
    // Whatever was read, a reply can be rendered for it.
    expect(typeof renderReply(gateway, END, inbound).body).toBe('string');
  }

  it.each(GATEWAYS)('%s: throws nothing but DialectError for any JSON value', (gateway) => {
    fc.assert(fc.property(fc.jsonValue(), (body) => onlyDialectErrors(gateway, body)));
  });

  it.each(GATEWAYS)('%s: throws nothing but DialectError for any object', (gateway) => {
    fc.assert(fc.property(fc.object(), (body) => onlyDialectErrors(gateway, body)));
  });

  it.each(GATEWAYS)('%s: throws nothing but DialectError for objects with its own field names', (gateway) => {
    const names = [
      'sessionId',
      'phoneNumber',
      'serviceCode',
      'text',
      'networkCode',
      'requestId',
      'SessionId',
      'Mobile',
      'ServiceCode',
      'Type',
      'Message',
      'Sequence',
      'ClientState',
      'Operator',
      'USERID',
      'MSISDN',
      'USERDATA',
      'MSGTYPE',
      'NETWORK',
      'sessionID',
      'userID',
      'msisdn',
      'newSession',
      'userData',
      'network',
    ];
    const value = fc.oneof(
      fc.jsonValue(),
      fc.constantFrom('Initiation', 'response', 'Release', 'timeout', 'true', 'false', '*383#', '*383*1*2#', ''),
      fc.boolean(),
    );
    fc.assert(fc.property(fc.dictionary(fc.constantFrom(...names), value), (body) => onlyDialectErrors(gateway, body)));
  });
});
