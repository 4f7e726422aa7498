import { Readable } from 'node:stream';

import { balancerOf, BallastError, detachBalancer, withBalancer } from '@ballast/axios';
import {
  countByName,
  inflight,
  waitFor,
  type EchoBody,
  type Response,
  type Upstream,
} from '@ballast/testing';
import axios, { AxiosError, type AxiosInstance, type AxiosResponse } from 'axios';

import { recordReleases, refusedUrl, useFixtures } from './fixtures';

const fx = useFixtures();
const balancers = fx.balancers;
let upstreams: Upstream[] = [];

const echo = (res: { data: unknown }) => res.data as EchoBody;
/** Responses by the upstream that answered them. */
const byName = (responses: readonly AxiosResponse[]) =>
  countByName(responses.map((r) => ({ json: () => r.data }) as unknown as Response));

describe('withBalancer', () => {
  test('spreads relative URLs over the instances and releases every lease', async () => {
    upstreams = await fx.start(3);
    const balancer = fx.balancerOver(upstreams.map((u) => u.url));
    const client = withBalancer(axios.create(), balancer);

    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => client.get(`/users/${i}`)));

    expect(byName(responses)).toEqual({
      a: 10,
      b: 10,
      c: 10,
    });
    expect(responses.map((r) => echo(r).url).sort()).toEqual(
      Array.from({ length: 30 }, (_, i) => `/users/${i}`).sort(),
    );
    expect(inflight(balancer)).toBe(0);
    expect(balancer.snapshot().instances.map((i) => i.requests)).toEqual([10, 10, 10]);
  });

  test('keeps a relative baseURL after the instance URL, and an instance URL path before it', async () => {
    upstreams = await fx.start(1);
    const balancer = fx.balancerOver([`${upstreams[0]!.url}/v2/`]);
    const client = withBalancer(axios.create({ baseURL: '/api' }), balancer);

    const res = await client.get('/users/42', { params: { q: 'x' } });

    expect(echo(res).url).toBe('/v2/api/users/42?q=x');
    expect(res.config.baseURL).toBe(`${upstreams[0]!.url}/v2/api`);
  });

  test('leaves absolute URLs (and an absolute baseURL) alone', async () => {
    upstreams = await fx.start(2);
    const [balanced, other] = upstreams as [Upstream, Upstream];
    const balancer = fx.balancerOver([balanced.url]);
    const releases = recordReleases(balancer);
    const client = withBalancer(axios.create(), balancer);

    expect(echo(await client.get(`${other.url}/direct`)).name).toBe('b');
    // A URL object, as JavaScript callers pass one: absolute too, not balanced (it once crashed).
    expect(echo(await client.get(new URL(`${other.url}/object`) as unknown as string)).name).toBe('b');
    const withBase = withBalancer(axios.create({ baseURL: other.url }), fx.balancerOver([balanced.url]));
    expect(echo(await withBase.get('/based')).name).toBe('b');
    expect(echo(await client.get('/balanced')).name).toBe('a');

    expect(releases).toHaveLength(1);
    expect(other.count()).toBe(3);
  });

  test("the caller's interceptors installed before withBalancer (axios runs them after it) set baseURL and url", async () => {
    upstreams = await fx.start(2);
    const [balanced, other] = upstreams as [Upstream, Upstream];
    const balancer = fx.balancerOver([balanced.url]);
    const releases = recordReleases(balancer);
    const instance = axios.create();
    instance.interceptors.request.use((config) => {
      if (config.url === '/versioned') config.baseURL = '/v2';
      if (config.url === '/moved') config.url = `${other.url}/moved`;
      return config;
    });
    const client = withBalancer(instance, balancer);

    const versioned = await client.get('/versioned');
    expect(echo(versioned)).toMatchObject({ name: 'a', url: '/v2/versioned' });
    expect(versioned.config.baseURL).toBe(`${balanced.url}/v2`);
    // Made absolute after the balancing interceptor: it goes there, and is not the instance's.
    expect(echo(await client.get('/moved'))).toMatchObject({ name: 'b', url: '/moved' });
    expect(releases).toHaveLength(1);
    expect(inflight(balancer)).toBe(0);
  });

  test('creates and owns a balancer from options; detachBalancer closes it and removes the interceptor', async () => {
    upstreams = await fx.start(2);
    const client = withBalancer(axios.create(), {
      service: 'orders',
      instances: upstreams.map((u) => u.url),
      strategy: 'round-robin',
    });
    const balancer = balancerOf(client)!;
    expect(balancer.service).toBe('orders');
    expect(byName(await Promise.all([client.get('/'), client.get('/')]))).toEqual({ a: 1, b: 1 });

    expect(detachBalancer(client)).toBe(true);
    expect(detachBalancer(client)).toBe(false);
    expect(balancerOf(client)).toBeUndefined();
    expect(() => balancer.pick()).toThrow(expect.objectContaining({ code: 'BALLAST_CLOSED' }));
    // A plain axios instance again: a relative URL has nowhere to go, an absolute one works.
    await expect(client.get('/relative')).rejects.toThrow();
    expect(echo(await client.get(`${upstreams[1]!.url}/plain`)).name).toBe('b');

    // And it can take a balancer again.
    const shared = fx.balancerOver([upstreams[0]!.url]);
    withBalancer(client, shared);
    expect(echo(await client.get('/again')).name).toBe('a');
    detachBalancer(client);
    expect(() => shared.pick().release({ ok: true })).not.toThrow(); // a balancer passed in stays open
  });

  test('a second withBalancer on the same instance is a BallastError', () => {
    const instance = axios.create();
    const client = withBalancer(instance, fx.balancerOver(['http://127.0.0.1:1']));
    expect(client).toBe(instance);
    let error: unknown;
    try {
      withBalancer(client, fx.balancerOver(['http://127.0.0.1:2']));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BallastError);
    expect(error).toMatchObject({ code: 'BALLAST_ALREADY_ATTACHED' });
    expect(client.interceptors.request.handlers?.filter(Boolean)).toHaveLength(1);
  });

  test.each([
    ['retries', { retries: -1 }, -1],
    ['retries', { retries: 1.5 }, 1.5],
    ['retries', { retries: '2' }, '2'],
    ['key', { key: 'user' }, 'user'],
    ['logger', { logger: 'pino' }, 'pino'],
    ['options', null, null],
    ['options', 3, 3],
  ])('invalid option %s = %p throws InvalidConfigError naming it', (field, options, value) => {
    expect(() =>
      withBalancer(axios.create(), fx.balancerOver(['http://127.0.0.1:1']), options as never),
    ).toThrow(expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field, value }));
  });

  test('invalid targets and instances throw InvalidConfigError naming the argument', () => {
    expect(() => withBalancer({} as AxiosInstance, { instances: [] })).toThrow(
      expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field: 'axiosInstance' }),
    );
    expect(() => withBalancer(axios.create(), null as never)).toThrow(
      expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field: 'target', value: null }),
    );
    // Balancer options are validated by the core, which names the field.
    expect(() => withBalancer(axios.create(), { instances: ['not a url'] })).toThrow(
      expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG' }),
    );
  });

  test('a request no instance can take fails at once with BALLAST_NO_INSTANCE and a log line', async () => {
    const warnings: object[] = [];
    const logger = { debug() {}, info() {}, warn: (obj: object) => warnings.push(obj), error() {} };
    const client = withBalancer(axios.create(), fx.balancerOver([]), { logger });

    await expect(client.get('/x')).rejects.toMatchObject({ code: 'BALLAST_NO_INSTANCE' });
    expect(warnings).toEqual([expect.objectContaining({ service: 'users', url: '/x' })]);
  });

  test('the key function picks the instance for consistent-hash; one that throws only loses affinity', async () => {
    upstreams = await fx.start(3);
    const balancer = fx.balancerOver(
      upstreams.map((u) => u.url),
      { strategy: 'consistent-hash' },
    );
    const client = withBalancer(axios.create(), balancer, {
      key: (config) => {
        const user = (config.headers.get('x-user') as string | undefined) ?? '';
        if (user === 'boom') throw new Error('bad key');
        return user;
      },
    });
    const served = async (user: string) => echo(await client.get('/', { headers: { 'x-user': user } })).name;

    for (const user of ['ann', 'bob', 'cy']) {
      const first = await served(user);
      for (let i = 0; i < 5; i++) expect(await served(user)).toBe(first);
    }
    expect(['a', 'b', 'c']).toContain(await served('boom'));
    expect(inflight(balancer)).toBe(0);
  });

  test('an instance with transforms of its own (or from another axios copy) is balanced all the same', async () => {
    upstreams = await fx.start(2);
    const balancer = fx.balancerOver(upstreams.map((u) => u.url));
    const shout = (data: unknown) => (typeof data === 'string' ? data.toUpperCase() : JSON.stringify(data));
    const client = withBalancer(axios.create({ transformRequest: [shout] }), balancer);

    const responses = [await client.post('/', 'hi'), await client.post('/', 'ho')];
    expect(responses.map((r) => [echo(r).name, echo(r).bodyText])).toEqual([
      ['a', 'HI'],
      ['b', 'HO'],
    ]);
    expect(inflight(balancer)).toBe(0);
  });

  test('a body that fails to serialize rejects without leaking the lease', async () => {
    upstreams = await fx.start(1);
    const balancer = fx.balancerOver([upstreams[0]!.url]);
    const client = withBalancer(axios.create(), balancer);
    const circular: Record<string, unknown> = {};
    circular.self = circular;

    await expect(client.post('/x', circular)).rejects.toThrow();
    expect(inflight(balancer)).toBe(0);
    expect(echo(await client.post('/x', { fine: true })).bodyText).toBe('{"fine":true}');
  });
});

describe('failover and retries', () => {
  test('a refused connection is retried on another instance, for any method', async () => {
    upstreams = await fx.start(1);
    const dead = await refusedUrl();
    const balancer = fx.balancerOver([dead, upstreams[0]!.url]);
    const releases = recordReleases(balancer);
    const client = withBalancer(axios.create(), balancer);

    for (let i = 0; i < 4; i++) {
      expect(echo(await client.post('/orders', { i })).bodyText).toBe(JSON.stringify({ i }));
    }

    const failed = releases.filter((r) => !r.outcome.ok);
    expect(failed.length).toBeGreaterThanOrEqual(2); // round-robin sends every other first attempt to the dead one
    expect(new Set(failed.map((r) => r.instance.id))).toEqual(new Set([new URL(dead).origin]));
    expect(new Set(failed.map((r) => (r.outcome.error as AxiosError).code))).toEqual(
      new Set(['ECONNREFUSED']),
    );
    expect(upstreams[0]!.count()).toBe(4);
    expect(inflight(balancer)).toBe(0);
  });

  test('a dead instance (killed mid-test) fails over, and the rest keep serving', async () => {
    upstreams = await fx.start(3);
    const balancer = fx.balancerOver(upstreams.map((u) => u.url));
    const client = withBalancer(axios.create(), balancer);
    await Promise.all(Array.from({ length: 6 }, () => client.get('/')));

    await upstreams[1]!.kill();
    const responses = await Promise.all(Array.from({ length: 12 }, () => client.get('/')));

    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(new Set(responses.map((r) => echo(r).name))).toEqual(new Set(['a', 'c']));
    expect(balancer.get(new URL(upstreams[1]!.url).origin)!.failures).toBeGreaterThan(0);
    expect(inflight(balancer)).toBe(0);
  });

  test('a logger that throws never breaks a request', async () => {
    upstreams = await fx.start(1);
    const dead = await refusedUrl();
    const explode = () => {
      throw new Error('logger down');
    };
    const logger = { debug: explode, info: explode, warn: explode, error: explode };
    const client = withBalancer(axios.create(), fx.balancerOver([dead, upstreams[0]!.url]), { logger });

    expect(echo(await client.get('/')).name).toBe('a'); // logged a retry at debug
    await expect(
      withBalancer(axios.create(), fx.balancerOver([]), { logger }).get('/'),
    ).rejects.toMatchObject({
      code: 'BALLAST_NO_INSTANCE', // logged at warn
    });
  });

  test('5xx is retried elsewhere for GET, not for POST', async () => {
    upstreams = await fx.start(2);
    upstreams[0]!.behaviour = (_req, res) => void res.writeHead(503).end('down');
    const balancer = fx.balancerOver(upstreams.map((u) => u.url));
    const releases = recordReleases(balancer);
    const client = withBalancer(axios.create(), balancer);

    const [get1, get2] = [await client.get('/'), await client.get('/')];
    expect([echo(get1).name, echo(get2).name]).toEqual(['b', 'b']);

    const posts = await Promise.allSettled([client.post('/', 'x'), client.post('/', 'y')]);
    const statuses = posts.map((p) =>
      p.status === 'fulfilled' ? p.value.status : (p.reason as AxiosError).response?.status,
    );
    expect(statuses.sort()).toEqual([200, 503]);

    expect(releases.filter((r) => r.outcome.status === 503 && !r.outcome.ok)).toHaveLength(2);
    expect(upstreams[0]!.count()).toBe(2); // one GET attempt and one POST
    expect(inflight(balancer)).toBe(0);
  });

  test("a 4xx is the caller's answer: not retried, not held against the instance", async () => {
    upstreams = await fx.start(2);
    const balancer = fx.balancerOver(upstreams.map((u) => u.url));
    const releases = recordReleases(balancer);
    const client = withBalancer(axios.create(), balancer);

    await expect(client.get('/status/404')).rejects.toMatchObject({ response: { status: 404 } });
    expect(releases).toEqual([
      expect.objectContaining({ outcome: expect.objectContaining({ ok: true, status: 404 }) }),
    ]);
  });

  test.each(['http', 'fetch'] as const)(
    "a response over the caller's maxContentLength is the caller's limit, not the instance's failure (%s)",
    async (adapter) => {
      upstreams = await fx.start(1);
      upstreams[0]!.behaviour = (_req, res) => void res.end('x'.repeat(4096));
      const balancer = fx.balancerOver(upstreams.map((u) => u.url));
      const releases = recordReleases(balancer);
      const client = withBalancer(axios.create({ adapter, maxContentLength: 100 }), balancer);

      await expect(client.get('/big')).rejects.toMatchObject({ code: 'ERR_BAD_RESPONSE' });
      expect(releases).toEqual([expect.objectContaining({ outcome: expect.objectContaining({ ok: true }) })]);
      expect(upstreams[0]!.count()).toBe(1); // not retried
      expect(inflight(balancer)).toBe(0);
    },
  );

  test('a timeout is retried for GET, not for POST; retries: 0 turns retries off', async () => {
    upstreams = await fx.start(2);
    upstreams[0]!.behaviour = () => undefined; // never answers
    // A fresh round-robin balancer each time, so that the first attempt goes to the silent one.
    const client = (retries?: number) =>
      withBalancer(axios.create({ timeout: 200 }), fx.balancerOver(upstreams.map((u) => u.url)), { retries });

    expect(echo(await client().get('/')).name).toBe('b');
    await expect(client().post('/', 'x')).rejects.toMatchObject({ code: 'ECONNABORTED' });
    await expect(client(0).get('/')).rejects.toMatchObject({ code: 'ECONNABORTED' });
    expect(upstreams[1]!.count()).toBe(1);
    expect(balancers.map(inflight)).toEqual([0, 0, 0]);
  });

  test('a reset connection is retried for GET', async () => {
    upstreams = await fx.start(2);
    upstreams[0]!.behaviour = (req) => void req.socket.destroy();
    const balancer = fx.balancerOver(upstreams.map((u) => u.url));
    const releases = recordReleases(balancer);
    const client = withBalancer(axios.create(), balancer);

    expect(echo(await client.get('/')).name).toBe('b');
    expect((releases[0]!.outcome.error as AxiosError).code).toBe('ECONNRESET');
  });

  test('with every instance failing, retries stop at `retries` and the last error goes to the caller', async () => {
    upstreams = await fx.start(4);
    for (const u of upstreams) u.behaviour = (_req, res) => void res.writeHead(502).end();
    const balancer = fx.balancerOver(upstreams.map((u) => u.url));
    const client = withBalancer(axios.create(), balancer, { retries: 2 });

    await expect(client.get('/')).rejects.toMatchObject({ response: { status: 502 } });
    // Three attempts (the first and two retries), each on an instance not tried yet.
    const counts = upstreams.map((u) => u.count());
    expect(counts.filter((n) => n === 1)).toHaveLength(3);
    expect(counts.filter((n) => n === 0)).toHaveLength(1);

    // Two instances, five retries allowed: each instance is tried once, then no other is left.
    const two = withBalancer(axios.create(), fx.balancerOver([upstreams[0]!.url, upstreams[1]!.url]), {
      retries: 5,
    });
    await expect(two.get('/')).rejects.toMatchObject({ response: { status: 502 } });
    const after = upstreams.map((u) => u.count());
    expect(after.slice(0, 2).map((n, i) => n - counts[i]!)).toEqual([1, 1]);
    expect(after.slice(2)).toEqual(counts.slice(2));
  });

  test('the fetch adapter fails over too: a refused connection for any method, a reset for GET only', async () => {
    upstreams = await fx.start(2);
    const dead = await refusedUrl();
    upstreams[0]!.behaviour = (req) => void req.socket.destroy();
    const refused = fx.balancerOver([dead, upstreams[1]!.url]);
    const client = withBalancer(axios.create({ adapter: 'fetch' }), refused);

    expect(echo(await client.post('/orders', { i: 1 })).name).toBe('b');

    // The reset instance first each time (a fresh round-robin balancer).
    const resetting = () =>
      withBalancer(axios.create({ adapter: 'fetch' }), fx.balancerOver(upstreams.map((u) => u.url)));
    expect(echo(await resetting().get('/')).name).toBe('b');
    await expect(resetting().post('/', 'x')).rejects.toMatchObject({ code: 'ERR_NETWORK' });
    expect(upstreams.map((u) => u.count())).toEqual([2, 2]);
    expect(balancers.map(inflight)).toEqual([0, 0, 0]);
  });

  test.each(['http', 'fetch'] as const)(
    'a POST the instance answered with a redirect is not sent again when the redirect target refuses (%s adapter)',
    async (adapter) => {
      upstreams = await fx.start(2);
      const dead = await refusedUrl();
      upstreams[0]!.behaviour = (req, res) => {
        req.resume();
        res.writeHead(303, { location: `${dead}/orders/1` }).end();
      };
      const balancer = fx.balancerOver(upstreams.map((u) => u.url));
      const client = withBalancer(axios.create({ adapter }), balancer);

      await expect(client.post('/orders', { item: 1 })).rejects.toMatchObject({
        code: adapter === 'http' ? 'ECONNREFUSED' : 'ERR_NETWORK',
      });
      expect(upstreams.map((u) => u.count())).toEqual([1, 0]);
      expect(inflight(balancer)).toBe(0);
    },
  );

  test('a request in flight when detachBalancer closes its balancer ends with its own error, not BALLAST_CLOSED', async () => {
    upstreams = await fx.start(2);
    for (const u of upstreams)
      u.behaviour = (_req, res) => void setTimeout(() => res.writeHead(503).end(), 50);
    const client = withBalancer(axios.create(), {
      instances: upstreams.map((u) => u.url),
      strategy: 'round-robin',
    });
    const balancer = balancerOf(client)!;

    const pending = client.get('/').catch((e: unknown) => e);
    await waitFor(() => upstreams[0]!.count() === 1, { message: 'the request to arrive' });
    detachBalancer(client);
    const error = await pending;

    expect(error).toBeInstanceOf(AxiosError);
    expect(error).toMatchObject({ response: { status: 503 } });
    expect(upstreams[1]!.count()).toBe(0);
    expect(inflight(balancer)).toBe(0);
  });

  test('the fetch adapter uses config.env.fetch, as a plain request does', async () => {
    upstreams = await fx.start(1);
    const balancer = fx.balancerOver([upstreams[0]!.url]);
    const fetched: string[] = [];
    const tracing: typeof fetch = (input, init) => {
      fetched.push(input instanceof Request ? input.url : String(input));
      return fetch(input, init);
    };
    const client = withBalancer(axios.create({ adapter: 'fetch', env: { fetch: tracing } }), balancer);

    expect(echo(await client.get('/traced')).name).toBe('a');
    expect(echo(await client.get('/untraced', { env: { fetch } })).name).toBe('a');
    expect(echo(await client.get('/traced-again')).name).toBe('a');
    expect(fetched).toEqual([`${upstreams[0]!.url}/traced`, `${upstreams[0]!.url}/traced-again`]);
    expect(inflight(balancer)).toBe(0);
  });

  test('a streamed request body is not retried: it cannot be sent twice', async () => {
    const dead = await refusedUrl();
    upstreams = await fx.start(1);
    const balancer = fx.balancerOver([dead, upstreams[0]!.url]);
    const client = withBalancer(axios.create(), balancer);

    await expect(client.post('/', Readable.from(['a', 'b']))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(upstreams[0]!.count()).toBe(0);
    expect(inflight(balancer)).toBe(0);
  });
});
