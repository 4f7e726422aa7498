import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BallastError, createBalancer, type Balancer, type Listener } from '@ballast/core';
import { createStatusHandler, type StatusHandler, type StatusSnapshot } from '../src';
import { cleanup, gateway, listen, named, respond, send, until } from './helpers';

afterEach(cleanup);

const TOKEN = 's3cret-token-for-tests';

/** A node:http server running the status handler; closed (and the handler with it) in cleanup. */
async function statusServer(handler: StatusHandler): Promise<string> {
  const server = await listen(handler);
  return server.url;
}

/** Two upstreams behind a proxy, `b` answering 500 while `failing.b` is set. */
async function liveService(options: { metadata?: Record<string, string> } = {}) {
  const failing = { b: false };
  const a = await named('a');
  const b = await listen((req, res) => (failing.b ? respond(res, 500, 'boom') : respond(res, 200, 'b')));
  const balancer = createBalancer({
    service: 'users',
    strategy: 'round-robin',
    instances: [
      { id: 'a', url: a.url, metadata: options.metadata ?? { team: 'core' } },
      { id: 'b', url: b.url },
    ],
    health: { outlier: { consecutiveFailures: 3, maxEjectionPercent: 50 } },
  });
  const gw = await gateway(balancer, { retries: 0 });
  return { balancer, gw, failing };
}

const json = (text: string) => JSON.parse(text) as StatusSnapshot;

/** A round-robin balancer over instances `a` and `b`, which nothing listens on. */
const twoInstances = (): Balancer =>
  createBalancer({
    service: 'users',
    strategy: 'round-robin',
    instances: [
      { id: 'a', url: 'http://127.0.0.1:1' },
      { id: 'b', url: 'http://127.0.0.1:2' },
    ],
  });

describe('createStatusHandler over plain HTTP', () => {
  test('serves the page and a live snapshot fed by real traffic; a failing instance shows as trouble', async () => {
    const { balancer, gw, failing } = await liveService();
    const handler = createStatusHandler(balancer);
    const url = await statusServer(handler);

    const page = await send(url, { path: '/' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.text).toContain('<title>Ballast status</title>');
    expect(page.text).not.toMatch(/<(script|link)[^>]+(src|href)="(https?:)?\/\//);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    const csp = page.headers['content-security-policy'] as string;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toContain('unsafe-inline');

    for (let i = 0; i < 10; i++) expect((await send(gw.url, { path: `/users/${i}` })).status).toBe(200);
    const res = await send(url, { path: '/snapshot.json' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    const snap = json(res.text);
    expect(snap.windowSeconds).toBe(10);
    expect(snap.historySeconds).toBe(300);
    const [svc] = snap.services;
    expect(svc).toMatchObject({ service: 'users', strategy: 'round-robin', panic: false, level: 'ok' });
    expect(svc!.instances.map((i) => [i.id, i.state, i.level, i.recent.requests])).toEqual([
      ['a', 'healthy', 'ok', 5],
      ['b', 'healthy', 'ok', 5],
    ]);
    const a = svc!.instances[0]!;
    expect(a.recent.requestsPerSecond).toBeGreaterThan(0);
    expect(a.recent.errorRate).toBe(0);
    expect(a.recent.p50Ms).not.toBeNull();
    expect(a.series.requests.length).toBeGreaterThanOrEqual(1);
    expect(a.series.requests.length).toBeLessThanOrEqual(300);
    expect(a.series.requests.reduce((x, y) => x + y, 0)).toBe(5);
    expect(Number.isInteger(snap.second)).toBe(true);
    // ?points= keeps the last seconds of each series only; anything else means all of them.
    const few = json((await send(url, { path: '/snapshot.json?points=1' })).text);
    expect(few.services[0]!.instances[0]!.series.requests).toHaveLength(1);
    expect(few.second).toBeGreaterThanOrEqual(snap.second);
    for (const points of ['0', '-3', 'abc', '1e3']) {
      const all = json((await send(url, { path: `/snapshot.json?points=${points}` })).text);
      expect(all.services[0]!.instances[0]!.series.requests.length).toBe(
        a.series.requests.length + all.second - snap.second,
      );
    }

    failing.b = true;
    for (let i = 0; i < 8; i++) await send(gw.url, { path: `/users/${i}` });
    await until(() => balancer.get('b')!.state === 'ejected', 2_000, 'b to be ejected');
    const after = json((await send(url, { path: '/snapshot.json' })).text).services[0]!;
    const b = after.instances.find((i) => i.id === 'b')!;
    expect(b).toMatchObject({ state: 'ejected', level: 'trouble' });
    expect(b.reasons).toContain('ejected');
    expect(b.reasons.some((r) => r.startsWith('error rate'))).toBe(true);
    expect(b.recent.errorRate).toBeGreaterThan(0.25);
    expect(after.level).toBe('warn');
    expect(after.changes.at(-1)).toMatchObject({ instance: 'b', to: 'ejected' });
    expect(typeof after.changes.at(-1)!.reason).toBe('string');
    handler.close();
  });

  test('a Latin-1 token with inner spaces works from the header (as a browser sends it) and the URL', async () => {
    const token = 'clé secrète';
    const handler = createStatusHandler(createBalancer({ service: 'users', instances: [] }), { token });
    expect(
      handler.answer({
        method: 'GET',
        url: '/snapshot.json',
        headers: { authorization: `Bearer ${token}` /* Node reads header bytes as Latin-1 */ },
      }).status,
    ).toBe(200);
    expect(
      handler.answer({ method: 'GET', url: `/snapshot.json?token=${encodeURIComponent(token)}` }).status,
    ).toBe(200);
    expect(
      handler.answer({ method: 'GET', url: '/snapshot.json', headers: { authorization: 'Bearer clé' } })
        .status,
    ).toBe(401);
    handler.close();
  });

  test('with a token, every path needs it: Bearer header or ?token=, and a 401 reveals nothing', async () => {
    const { balancer } = await liveService();
    const logs: object[] = [];
    const logger = { debug() {}, info: (obj: object) => void logs.push(obj), warn() {}, error() {} };
    const handler = createStatusHandler(balancer, { token: TOKEN, logger });
    const url = await statusServer(handler);

    for (const path of ['/', '/snapshot.json', '/nope', `/snapshot.json?token=${TOKEN}x`]) {
      const res = await send(url, { path });
      expect(res.status).toBe(401);
      expect(res.text).toBe('Unauthorized\n');
      expect(res.headers['www-authenticate']).toBe('Bearer realm="ballast"');
      expect(res.headers['cache-control']).toBe('no-store');
    }
    const wrong = [`Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}${TOKEN}`, TOKEN, 'Basic eDp5', 'Bearer '];
    for (const authorization of wrong) {
      const res = await send(url, { path: '/snapshot.json', headers: { authorization } });
      expect(res.status).toBe(401);
      expect(res.text).not.toContain(TOKEN.slice(0, 4));
    }
    expect(logs).toHaveLength(9);
    expect(JSON.stringify(logs)).not.toContain(TOKEN);

    const byHeader = await send(url, {
      path: '/snapshot.json',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(byHeader.status).toBe(200);
    expect(json(byHeader.text).services[0]!.service).toBe('users');
    const lowerCase = await send(url, {
      path: '/snapshot.json',
      headers: { authorization: `bearer ${TOKEN}` },
    });
    expect(lowerCase.status).toBe(200);
    expect((await send(url, { path: `/?token=${encodeURIComponent(TOKEN)}` })).status).toBe(200);
    // Authorized but unknown: the usual 404.
    expect((await send(url, { path: `/other?token=${TOKEN}` })).status).toBe(404);
    handler.close();
  });

  test('instance metadata is hidden unless exposeMetadata is set', async () => {
    const { balancer } = await liveService({ metadata: { secret: 'rack-42' } });
    const hidden = createStatusHandler(balancer);
    const shown = createStatusHandler(balancer, { exposeMetadata: true });
    const hiddenText = (await send(await statusServer(hidden), { path: '/snapshot.json' })).text;
    expect(hiddenText).not.toContain('rack-42');
    expect(json(hiddenText).services[0]!.instances[0]!.metadata).toBeUndefined();
    const shownSnap = json((await send(await statusServer(shown), { path: '/snapshot.json' })).text);
    expect(shownSnap.services[0]!.instances[0]!.metadata).toEqual({ secret: 'rack-42' });
    hidden.close();
    shown.close();
  });

  test('GET and HEAD only (405 with Allow), 404 for other paths, odd URLs answered', async () => {
    const { balancer } = await liveService();
    const handler = createStatusHandler(balancer);
    const url = await statusServer(handler);
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const res = await send(url, {
        method,
        path: '/snapshot.json',
        body: method === 'POST' ? 'x' : undefined,
      });
      expect(res.status).toBe(405);
      expect(res.headers.allow).toBe('GET, HEAD');
    }
    const head = await send(url, { method: 'HEAD', path: '/' });
    expect(head.status).toBe(200);
    expect(head.body).toHaveLength(0);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(1000);
    for (const path of [
      '/index.html',
      '/snapshot.json/',
      '//snapshot.json',
      '/snapshot.jsonx',
      '/%zz?token=%zz&&=',
    ]) {
      expect((await send(url, { path })).status).toBe(404);
    }
    expect((await send(url, { path: '/snapshot.json?x=%zz&token' })).status).toBe(200);
    expect(handler.answer({}).status).toBe(200);
    expect(handler.answer({ method: 'GET', url: '/snapshot.json#frag' }).status).toBe(200);
    handler.close();
  });

  test('several balancers on one page; config errors name the field and the value', async () => {
    const users = createBalancer({ service: 'users', instances: ['http://127.0.0.1:1'] });
    const orders = createBalancer({ service: 'orders', instances: ['http://127.0.0.1:2'] });
    const handler = createStatusHandler([users, { balancer: orders }]);
    const snap = handler.snapshot();
    expect(snap.services.map((s) => s.service)).toEqual(['users', 'orders']);
    // No release yet: the figures of an empty second.
    expect(snap.services[1]!.instances[0]).toMatchObject({
      level: 'ok',
      recent: { requests: 0, requestsPerSecond: 0, errorRate: 0, p50Ms: null, p99Ms: null },
      series: { requests: [0], failures: [0], p99Ms: [null] },
    });
    handler.close();

    const cases: [() => unknown, string][] = [
      [() => createStatusHandler(users, { token: '' }), 'status.token'],
      [() => createStatusHandler(users, { token: 42 as unknown as string }), 'status.token'],
      [() => createStatusHandler(users, { token: ' s3cret ' }), 'status.token'], // trimmed from a header: never matches
      [() => createStatusHandler(users, { token: 'secret-€' }), 'status.token'], // beyond Latin-1: a header cannot carry it
      [
        () => createStatusHandler(users, { exposeMetadata: 'yes' as unknown as boolean }),
        'status.exposeMetadata',
      ],
      [() => createStatusHandler(users, { historySeconds: 5 }), 'status.historySeconds'],
      [() => createStatusHandler(users, { tokn: 'x' } as object), 'status.tokn'],
      [() => createStatusHandler(users, 'x' as unknown as object), 'status'],
      [() => createStatusHandler({} as Balancer), 'balancers'],
      [() => createStatusHandler([users, null as unknown as Balancer]), 'balancers[1]'],
      [() => createStatusHandler([]), 'balancers'],
      [() => createStatusHandler([users, users]), 'balancers'],
    ];
    for (const [create, field] of cases) {
      let error: unknown;
      try {
        create();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(BallastError);
      expect((error as BallastError).code).toBe('BALLAST_INVALID_CONFIG');
      expect((error as { field?: string }).field).toBe(field);
    }
    users.close();
    orders.close();
  });

  test('strategy switches are kept (bounded); close() detaches every listener and observer and answers 503', async () => {
    const real = createBalancer({ service: 'users', instances: ['http://127.0.0.1:1'] });
    type AnyListener = Listener<'release'>;
    const added = new Map<string, AnyListener>();
    const removed: string[] = [];
    const observers = { added: 0, stopped: 0 };
    const balancer: Balancer = Object.assign(Object.create(real) as Balancer, {
      observeReleases(observer: Parameters<Balancer['observeReleases']>[0]) {
        observers.added += 1;
        const stop = real.observeReleases(observer);
        return () => {
          observers.stopped += 1;
          stop();
        };
      },
      on(event: string, fn: AnyListener) {
        added.set(event, fn);
        return real.on(event as 'release', fn);
      },
      off(event: string, fn: AnyListener) {
        if (added.get(event) === fn) removed.push(event);
        return real.off(event as 'release', fn);
      },
    });
    const handler = createStatusHandler(balancer);
    const strategyChange = added.get('strategy-change') as unknown as Listener<'strategy-change'>;
    for (let i = 0; i < 60; i++)
      strategyChange({ service: 'users', from: `s${i}`, to: `s${i + 1}`, reason: 'variance', signals: {} });
    const switches = handler.snapshot().services[0]!.switches;
    expect(switches).toHaveLength(50);
    expect(switches.at(-1)).toMatchObject({ from: 's59', to: 's60', reason: 'variance' });
    expect(switches[0]!.from).toBe('s10');

    const url = await statusServer(handler);
    handler.close();
    handler.close();
    expect(removed.sort()).toEqual([...added.keys()].sort());
    expect(added.has('instance-added')).toBe(true);
    expect(observers).toEqual({ added: 1, stopped: 1 });
    expect((await send(url, { path: '/' })).status).toBe(503);
    real.close();
  });
});

test('a closed balancer: closed, trouble, and no instance counted as serving', () => {
  const balancer = createBalancer({ service: 'users', instances: ['http://127.0.0.1:1'] });
  const handler = createStatusHandler(balancer);
  expect(handler.snapshot().services[0]).toMatchObject({ closed: false, level: 'ok' });
  balancer.close();
  const svc = handler.snapshot().services[0]!;
  expect(svc).toMatchObject({ closed: true, level: 'trouble' });
  expect(svc.instances.map((i) => [i.level, i.reasons])).toEqual([['trouble', ['balancer closed']]]);
  handler.close();
});

test('a removed instance shows as draining while a lease holds it, then leaves the page', () => {
  const balancer = twoInstances();
  const handler = createStatusHandler(balancer);
  for (let i = 0; i < 4; i++) balancer.pick().release({ ok: true, latencyMs: 3 });
  const held = balancer.pick();
  const id = held.instance.id;
  balancer.remove(id);
  const draining = handler.snapshot().services[0]!.instances.find((i) => i.id === id)!;
  expect(draining).toMatchObject({ state: 'draining', level: 'warn', reasons: ['draining'], inflight: 1 });
  held.release({ ok: false, latencyMs: 3 });
  expect(handler.snapshot().services[0]!.instances.map((i) => i.id)).toEqual(id === 'a' ? ['b'] : ['a']);
  // Added again under the same id, it starts with a fresh window.
  balancer.add({ id, url: 'http://127.0.0.1:3' });
  const back = handler.snapshot().services[0]!.instances.find((i) => i.id === id)!;
  expect(back.recent.requests).toBe(0);
  handler.close();
  balancer.close();
});

test('the handler is mountable under a prefix by stripping it from req.url, as Connect does', async () => {
  const balancer = createBalancer({ service: 'users', instances: ['http://127.0.0.1:1'] });
  const handler = createStatusHandler(balancer);
  const server = http.createServer((req, res) => {
    if (req.url === '/ballast' || req.url!.startsWith('/ballast/')) {
      req.url = req.url!.slice('/ballast'.length) || '/';
      handler(req, res);
    } else respond(res, 418);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    expect((await send(url, { path: '/ballast' })).status).toBe(200);
    expect(json((await send(url, { path: '/ballast/snapshot.json' })).text).services).toHaveLength(1);
    expect((await send(url, { path: '/ballast/x' })).status).toBe(404);
    expect((await send(url, { path: '/snapshot.json' })).status).toBe(418);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    handler.close();
    balancer.close();
  }
});

test('re-added under its id while the old one still drains, each row keeps its own figures', () => {
  const balancer = createBalancer({ service: 'users', instances: [{ id: 'a', url: 'http://127.0.0.1:1' }] });
  const handler = createStatusHandler(balancer);
  const held = balancer.pick();
  balancer.remove('a');
  balancer.add({ id: 'a', url: 'http://127.0.0.1:2' });
  for (let i = 0; i < 6; i++) balancer.pick().release({ ok: false, latencyMs: 3 });
  const rows = handler.snapshot().services[0]!.instances;
  const fresh = rows.find((i) => i.state !== 'draining')!;
  const old = rows.find((i) => i.state === 'draining')!;
  expect(fresh.recent.requests).toBe(6);
  expect(old).toMatchObject({ state: 'draining', inflight: 1, reasons: ['draining'] });
  // The draining instance served none of the new one's failures.
  expect(old.recent).toMatchObject({ requests: 0, errorRate: 0 });
  expect(old.series.requests).toEqual([0]);
  held.release({ ok: true, latencyMs: 3 });
  handler.close();
  balancer.close();
});

test('no instance that takes a new request is trouble: an empty pool, or every instance draining', async () => {
  const empty = createBalancer({ service: 'users', instances: [] });
  const handler = createStatusHandler(empty);
  const url = await statusServer(handler);
  expect(() => empty.pick()).toThrow(expect.objectContaining({ code: 'BALLAST_NO_INSTANCE' }));
  expect(json((await send(url, { path: '/snapshot.json' })).text).services[0]).toMatchObject({
    instances: [],
    level: 'trouble',
  });
  empty.close();

  const balancer = twoInstances();
  const draining = createStatusHandler(balancer);
  const held = [balancer.pick(), balancer.pick()];
  balancer.remove('a');
  expect(draining.snapshot().services[0]!.level).toBe('ok');
  balancer.remove('b');
  expect(() => balancer.pick()).toThrow(expect.objectContaining({ code: 'BALLAST_NO_INSTANCE' }));
  const svc = draining.snapshot().services[0]!;
  expect(svc.instances.map((i) => i.state)).toEqual(['draining', 'draining']);
  expect(svc.level).toBe('trouble');
  for (const lease of held) lease.release({ ok: true, latencyMs: 1 });
  draining.close();
  balancer.close();
});

test('answer() to HEAD has an empty body whatever the status, as StatusAnswer promises', () => {
  const balancer = createBalancer({ service: 'users', instances: ['http://127.0.0.1:1'] });
  const open = createStatusHandler(balancer);
  const guarded = createStatusHandler(balancer, { token: TOKEN });
  const head = (handler: StatusHandler, url: string) => handler.answer({ method: 'HEAD', url });
  expect(head(open, '/')).toMatchObject({ status: 200, body: '' });
  expect(head(open, '/nope')).toMatchObject({ status: 404, body: '' });
  expect(head(guarded, '/')).toMatchObject({ status: 401, body: '' });
  expect(open.answer({ method: 'GET', url: '/nope' }).body).toBe('Not Found\n'); // GET keeps its bodies
  open.close();
  expect(head(open, '/')).toMatchObject({ status: 503, body: '' });
  guarded.close();
  balancer.close();
});

test('a sparse array of balancers is a config error naming the hole, not a TypeError', () => {
  const users = createBalancer({ service: 'users', instances: ['http://127.0.0.1:1'] });
  // eslint-disable-next-line no-sparse-arrays
  const sparse = [, users] as unknown as Balancer[];
  expect(() => createStatusHandler(sparse).close()).toThrow(
    expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field: 'balancers[0]' }),
  );
  users.close();
});
