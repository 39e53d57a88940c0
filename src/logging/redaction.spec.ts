import { memorySink } from '../../test/support/logs.js';
import { createRootLogger, lazyChildLogger } from './logger.js';
import { loggableUrl, pathOnly } from './redaction.js';

function capture() {
  const sink = memorySink();
  const logger = createRootLogger({ log: { level: 'info' }, role: 'all' }, sink.stream);
  return { logger, text: sink.text };
}

describe('log redaction', () => {
  it('never writes PINs, one-time codes, tokens or keys', () => {
    const { logger, text } = capture();
    logger.info({ pin: '4821', body: { newPin: '5930', oldPin: '1357', otp: '918273' } }, 'changing pin');
    logger.info(
      { req: { headers: { authorization: 'Bearer eyJsecret', 'x-api-key': 'admin-key-123456' } } },
      'request',
    );
    logger.info({ payload: { nested: { pinHash: 'v1$salt$mac', token: 'tok-abc' } } }, 'deep');
    const out = text();
    for (const secret of [
      '4821',
      '5930',
      '1357',
      '918273',
      'eyJsecret',
      'admin-key-123456',
      'tok-abc',
      'v1$salt$mac',
    ]) {
      expect(out).not.toContain(secret);
    }
    expect(out).toContain('[redacted]');
    expect(out).toContain('changing pin');
  });

  it('drops query strings, which may carry callback secrets', () => {
    expect(pathOnly('/api/mpesa/callback?secret=abc')).toBe('/api/mpesa/callback');
    expect(pathOnly('/health')).toBe('/health');
  });

  it('logs the route pattern, not the path, of routes with a secret segment', () => {
    const secret = 'test-callback-secret-0123456789';
    expect(loggableUrl(`/api/mpesa/callbacks/${secret}/stk?x=1`, '/api/mpesa/callbacks/:secret/stk')).toBe(
      '/api/mpesa/callbacks/:secret/stk',
    );
    expect(loggableUrl('/api/loans/123?limit=2', '/api/loans/:id')).toBe('/api/loans/123');
    expect(loggableUrl('/nowhere', undefined)).toBe('/nowhere');
  });
});

describe(lazyChildLogger.name, () => {
  it('binds the request fields on the lines it writes, and makes no child for lines below the level', () => {
    const sink = memorySink();
    const parent = createRootLogger({ log: { level: 'warn' }, role: 'all' }, sink.stream);
    let made = 0;
    const child = parent.child.bind(parent);
    parent.child = ((...args: Parameters<typeof child>) => {
      made += 1;
      return child(...args);
    }) as typeof parent.child;
    const log = lazyChildLogger(parent, { reqId: 'r-1' });
    // What Fastify does with every request's logger: check the methods, log below the level.
    for (const m of ['info', 'error', 'debug', 'fatal', 'warn', 'trace', 'child'] as const)
      expect(typeof log[m]).toBe('function');
    log.info({ pin: '4821' }, 'request completed');
    expect(made).toBe(0);
    expect(sink.text()).toBe('');
    log.warn({ pin: '4821' }, 'slow');
    log.error('failed');
    expect(made).toBe(1);
    const lines = sink
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.reqId, l.msg])).toEqual([
      ['r-1', 'slow'],
      ['r-1', 'failed'],
    ]);
    expect(sink.text()).not.toContain('4821');
  });
});
