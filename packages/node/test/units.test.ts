import { InvalidConfigError } from '@ballast/core';
import type { IncomingMessage } from 'node:http';
import { createProxy, parsedBody, parseLoadHeader, ProxyError } from '../src';
import { RetryBudget } from '../src/retry-budget';
import { upstreamPath } from '../src/headers';

describe('parseLoadHeader (ORCA TEXT)', () => {
  it.each([
    ['TEXT cpu_utilization=0.3', 0.3],
    ['TEXT cpu_utilization=0.3, mem_utilization=0.9', 0.3],
    ['TEXT mem_utilization=0.9, cpu_utilization=1', 1],
    ['  TEXT  rps_fractional=10,cpu_utilization = 0 ', 0],
    ['TEXT cpu_utilization=.5', 0.5],
    ['TEXT cpu_utilization=5e-1', 0.5],
  ])('%j gives %p', (header, load) => {
    expect(parseLoadHeader(header)).toBe(load);
  });

  it.each([
    undefined,
    '',
    'cpu_utilization=0.3',
    'JSON {"cpu_utilization":0.3}',
    'BIN AAAA',
    'TEXTcpu_utilization=0.3',
    'TEXT mem_utilization=0.3',
    'TEXT cpu_utilization=',
    'TEXT cpu_utilization=NaN',
    'TEXT cpu_utilization=-0.1',
    'TEXT cpu_utilization=1.5',
    'TEXT cpu_utilization=0x1',
    'TEXT cpu_utilization=Infinity',
  ])('%j gives undefined', (header) => {
    expect(parseLoadHeader(header)).toBeUndefined();
  });
});

describe('parsedBody', () => {
  const req = (headers: Record<string, string>) =>
    ({ headers: { 'content-length': '9', ...headers } }) as IncomingMessage;
  const sent = (headers: Record<string, string>, parsed: unknown, raw?: unknown) => {
    const r = req(headers);
    const bytes = parsedBody(r, parsed, raw);
    return {
      body: bytes?.toString('utf8'),
      type: r.headers['content-type'],
      encoding: r.headers['content-encoding'],
    };
  };

  it('prefers the raw bytes a parser kept, as they came', () => {
    const raw = Buffer.from([0x5a, 0x6f, 0xeb]); // "Zoë" in Latin-1
    const r = req({ 'content-type': 'text/plain; charset=iso-8859-1', 'content-encoding': 'gzip' });
    expect(parsedBody(r, 'ignored', raw)).toBe(raw);
    expect(r.headers).toMatchObject({ 'content-type': 'text/plain; charset=iso-8859-1' });
    expect(r.headers['content-encoding']).toBeUndefined(); // the parser decoded it
  });

  it.each([
    ['JSON', { 'content-type': 'application/json' }, { a: 'é' }, '{"a":"é"}', 'application/json'],
    [
      'UTF-16 JSON',
      { 'content-type': 'application/json; charset=utf-16' },
      [1],
      '[1]',
      'application/json; charset=utf-8',
    ],
    [
      '+json',
      { 'content-type': 'application/merge-patch+json' },
      { a: null },
      '{"a":null}',
      'application/merge-patch+json',
    ],
    ['text', { 'content-type': 'text/plain' }, 'Zoë', 'Zoë', 'text/plain; charset=utf-8'],
    [
      'Latin-1 form',
      { 'content-type': 'application/x-www-form-urlencoded; charset=ISO-8859-1' },
      { n: 'Zoë' },
      'n=Zo%C3%AB',
      'application/x-www-form-urlencoded; charset=utf-8',
    ],
    [
      'nested form',
      { 'content-type': 'application/x-www-form-urlencoded' },
      { u: { n: 'A' }, t: ['x', 'y'], o: ['z'] },
      'u%5Bn%5D=A&t=x&t=y&o%5B%5D=z',
      'application/x-www-form-urlencoded',
    ],
  ])('rebuilds %s and labels what it sends', (_label, headers, parsed, body, type) => {
    expect(sent(headers, parsed)).toEqual({ body, type, encoding: undefined });
  });

  it('gives nothing for what it cannot rebuild, and an empty body for a request that had none', () => {
    expect(sent({ 'content-type': 'multipart/form-data; boundary=x' }, { files: [] }).body).toBeUndefined();
    expect(sent({ 'content-type': 'application/x-www-form-urlencoded' }, { n: 1 }).body).toBeUndefined();
    expect(sent({ 'content-type': 'application/json' }, undefined).body).toBeUndefined();
    expect(parsedBody({ headers: {} } as IncomingMessage, { a: 1 })).toEqual(Buffer.alloc(0));
  });

  it('withBody refuses a body that is not a Buffer or a string, through next', () => {
    const proxy = createProxy({ instances: ['http://127.0.0.1:1'] });
    const errors: unknown[] = [];
    proxy.withBody(req({}), {} as never, { a: 1 } as never, (error) => errors.push(error));
    expect(errors).toEqual([
      expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field: 'withBody.body' }),
    ]);
    void proxy.close();
  });
});

describe('upstreamPath', () => {
  it.each([
    ['/a?b=1', '', '/a?b=1'],
    ['/a', '/base', '/base/a'],
    ['http://host:1/x?y', '', '/x?y'],
    ['http://host:1', '/b', '/b/'],
    ['a', '', '/a'],
    [undefined, '', '/'],
    ['http://host:1?q=1', '/b', '/b/?q=1'],
    ['?next=http://host/x', '', '/?next=http://host/x'],
  ])('%j under %j is %j', (url, base, path) => {
    expect(upstreamPath(url, base)).toBe(path);
  });
});

describe('options', () => {
  const balancer = { instances: ['http://127.0.0.1:1'] };

  it.each([
    [{ timeoutMs: 0 }, 'proxy.timeoutMs'],
    [{ timeoutMs: '30s' }, 'proxy.timeoutMs'],
    [{ connectTimeoutMs: -1 }, 'proxy.connectTimeoutMs'],
    [{ idleTimeoutMs: 1.5 }, 'proxy.idleTimeoutMs'],
    [{ retries: -1 }, 'proxy.retries'],
    [{ retries: 11 }, 'proxy.retries'],
    [{ retryMethods: 'GET' }, 'proxy.retryMethods'],
    [{ retryMethods: ['GET', 'bad method'] }, 'proxy.retryMethods[1]'],
    [{ replayBufferBytes: -5 }, 'proxy.replayBufferBytes'],
    [{ retryBudget: { ratio: 2 } }, 'proxy.retryBudget.ratio'],
    [{ retryBudget: { minRetriesPerSecond: -1 } }, 'proxy.retryBudget.minRetriesPerSecond'],
    [{ retryBudget: { percent: 20 } }, 'proxy.retryBudget.percent'],
    [{ retryBudget: true }, 'proxy.retryBudget'],
    [{ connections: 0 }, 'proxy.connections'],
    [{ xForwarded: 'yes' }, 'proxy.xForwarded'],
    [{ changeOrigin: 1 }, 'proxy.changeOrigin'],
    [{ pathRewrite: { '^/api': 1 } }, 'proxy.pathRewrite["^/api"]'],
    [{ pathRewrite: { '(': '' } }, 'proxy.pathRewrite'],
    [{ pathRewrite: 'x' }, 'proxy.pathRewrite'],
    [{ key: 'user' }, 'proxy.key'],
    [{ onProxyRequest: {} }, 'proxy.onProxyRequest'],
    [{ onProxyResponse: 1 }, 'proxy.onProxyResponse'],
    [{ onError: true }, 'proxy.onError'],
    [{ healthCheck: true }, 'proxy.healthCheck'],
    [{ healthCheck: { path: 'health' } }, 'proxy.healthCheck.path'],
    [{ healthCheck: { intervalMs: 0 } }, 'proxy.healthCheck.intervalMs'],
    [{ healthCheck: { timeoutMs: -1 } }, 'proxy.healthCheck.timeoutMs'],
    [{ healthCheck: { healthyThreshold: 0 } }, 'proxy.healthCheck.healthyThreshold'],
    [{ healthCheck: { unhealthyThreshold: 1.5 } }, 'proxy.healthCheck.unhealthyThreshold'],
    [{ healthCheck: { expectStatus: [] } }, 'proxy.healthCheck.expectStatus'],
    [{ healthCheck: { expectStatus: 700 } }, 'proxy.healthCheck.expectStatus'],
    [{ healthCheck: { interval: 5 } }, 'proxy.healthCheck.interval'],
    [{ logger: 'console' }, 'proxy.logger'],
    [{ logger: { info: 1 } }, 'proxy.logger.info'],
    [{ timeout: 5 }, 'proxy.timeout'],
  ])('%j is refused, naming %s', (options, field) => {
    let error: unknown;
    try {
      createProxy(balancer, options as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect(error).toMatchObject({ code: 'BALLAST_INVALID_CONFIG', field });
  });

  it('accepts every documented option', async () => {
    const proxy = createProxy(balancer, {
      retries: 2,
      retryMethods: ['get', 'PUT'],
      replayBufferBytes: 0,
      retryBudget: false,
      connectTimeoutMs: 100,
      timeoutMs: 100,
      idleTimeoutMs: 100,
      connections: 4,
      xForwarded: false,
      changeOrigin: true,
      pathRewrite: { '^/a': '/b' },
      key: () => 'k',
      onProxyRequest: () => {},
      onProxyResponse: () => {},
      onError: () => {},
      healthCheck: false,
      logger: { debug() {}, info() {}, warn() {}, error() {} },
    });
    await proxy.close();
  });

  it('refuses invalid balancer options through core', () => {
    expect(() => createProxy({ instances: ['not a url'] })).toThrow(InvalidConfigError);
  });
});

describe('ProxyError', () => {
  it('maps codes to statuses and carries its cause', () => {
    const cause = new Error('refused');
    const error = new ProxyError('BALLAST_UPSTREAM_ERROR', 'x', { cause, instance: 'i1' });
    expect(error).toMatchObject({ statusCode: 502, code: 'BALLAST_UPSTREAM_ERROR', instance: 'i1', cause });
    expect(new ProxyError('BALLAST_UPSTREAM_TIMEOUT', 'x').statusCode).toBe(504);
    expect(new ProxyError('BALLAST_NO_INSTANCE', 'x', { retryAfterSeconds: 3 })).toMatchObject({
      statusCode: 503,
      retryAfterSeconds: 3,
    });
  });
});

describe('RetryBudget', () => {
  it('allows ratio × requests plus the reserve over a 10 s window, then refills as it slides', () => {
    let now = 0;
    const budget = new RetryBudget(0.2, 1, () => now);
    // Reserve: 1/s × 10 s = 10 retries with no traffic at all.
    let granted = 0;
    while (budget.tryRetry()) granted += 1;
    expect(granted).toBe(10);
    // 100 requests add 20 more.
    for (let i = 0; i < 100; i++) budget.request();
    granted = 0;
    while (budget.tryRetry()) granted += 1;
    expect(granted).toBe(20);
    // Nine seconds on, everything is still in the window.
    now = 9_999;
    expect(budget.tryRetry()).toBe(false);
    // Past the window: the old retries and requests are forgotten.
    now = 10_000;
    granted = 0;
    while (budget.tryRetry()) granted += 1;
    expect(granted).toBe(10);
    now = 30_000;
    for (let i = 0; i < 50; i++) budget.request();
    granted = 0;
    while (budget.tryRetry()) granted += 1;
    expect(granted).toBe(10 + 10);
  });

  it('never grants more than the ratio under steady load', () => {
    let now = 0;
    const budget = new RetryBudget(0.2, 0, () => now);
    let retries = 0;
    for (let i = 0; i < 100_000; i++) {
      now += 1; // 1000 requests per second for 100 s
      budget.request();
      if (budget.tryRetry()) retries += 1;
    }
    // 20 % of 100 000, give or take one retry per window as buckets slide out.
    expect(retries).toBeGreaterThan(19_900);
    expect(retries).toBeLessThanOrEqual(20_010);
  });
});
