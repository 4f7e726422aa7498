import { randomBytes } from 'node:crypto';

import { BallastError, createBalancer } from '@ballast/core';

import { request, webSocketEcho, type Response } from './client';
import { describeGatewayFailures } from './gateway-failures';
import {
  countByName,
  createHarness,
  inflight,
  QUIET,
  type AdapterUnderTest,
  type GatewayMiddleware,
} from './harness';
import { sha256, type EchoBody, type Upstream } from './upstream';
import { activeHandles, expectNoHandlesBeyond, waitFor } from './wait';

/**
 * The behaviour every proxying adapter must show over real HTTP: three real upstreams behind a
 * real framework app. Adapter-specific behaviour (mounting, body parsers, framework error
 * handling) is tested beside each adapter.
 */
export function describeGateway<M extends GatewayMiddleware>(
  label: string,
  adapter: AdapterUnderTest<M>,
): void {
  describe(`${label}: gateway behaviour over HTTP`, () => {
    const h = createHarness(adapter);
    afterEach(() => h.closeAll());

    const instancesOf = (upstreams: readonly Upstream[]) =>
      upstreams.map((u) => ({ id: u.name, url: u.url }));

    test('the middleware is a named function exposing its balancer, proxy and close()', async () => {
      const [a] = await h.upstreams(1);
      const mw = adapter.balancer({ instances: [a!.url] }, QUIET);
      try {
        expect(mw.name).toBe('ballastProxy');
        expect(typeof mw.balancer.pick).toBe('function');
        expect(typeof mw.proxy.forward).toBe('function');
        expect(mw.balancer.instances().map((i) => i.id)).toEqual([a!.url]);
      } finally {
        await mw.close();
      }
    });

    test('round-robin spreads requests exactly evenly over three upstreams', async () => {
      const ups = await h.upstreams(3);
      const gw = await h.gateway({ instances: instancesOf(ups), strategy: 'round-robin' }, QUIET);
      const responses: Response[] = [];
      for (let batch = 0; batch < 10; batch++) {
        responses.push(...(await Promise.all([0, 1, 2].map(() => request(`${gw.url}/rr`)))));
      }
      expect(responses.map((r) => r.status)).toEqual(Array(30).fill(200));
      expect(countByName(responses)).toEqual({ a: 10, b: 10, c: 10 });
    });

    test('weighted-round-robin honours weights 3:1:1 exactly', async () => {
      const ups = await h.upstreams(3);
      const instances = ups.map((u, i) => ({ id: u.name, url: u.url, weight: i === 0 ? 3 : 1 }));
      const gw = await h.gateway({ instances, strategy: 'weighted-round-robin' }, QUIET);
      const responses: Response[] = [];
      for (let batch = 0; batch < 10; batch++) {
        responses.push(...(await Promise.all([0, 1, 2, 3, 4].map(() => request(`${gw.url}/wrr`)))));
      }
      expect(countByName(responses)).toEqual({ a: 30, b: 10, c: 10 });
    });

    test('a 1 MiB POST body arrives byte-identical', async () => {
      const [a] = await h.upstreams(1);
      const gw = await h.gateway({ instances: [a!.url] }, QUIET);
      const body = randomBytes(1024 * 1024);
      const res = await request(`${gw.url}/upload?x=1`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
      });
      expect(res.status).toBe(200);
      const echo = res.json<EchoBody>();
      expect(echo).toMatchObject({ method: 'POST', url: '/upload?x=1', bodyBytes: body.length });
      expect(echo.bodySha256).toBe(sha256(body));
    });

    test('killing one upstream during 500 concurrent GETs loses none of them', async () => {
      const ups = await h.upstreams(3, { delayMs: 50 });
      const [, b] = ups;
      const gw = await h.gateway({ instances: instancesOf(ups), strategy: 'round-robin' }, QUIET);
      const all = Promise.all(Array.from({ length: 500 }, (_, i) => request(`${gw.url}/item/${i}`)));
      await waitFor(() => b!.count() >= 40, { message: 'b to receive 40 requests' });
      await b!.kill();
      const responses = await all;

      const failed = responses.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.text}`);
      expect(failed).toEqual([]);
      // The kill cut requests b had accepted: those succeeded only through a retry elsewhere.
      expect(b!.received.filter((r) => r.aborted).length).toBeGreaterThan(0);
      const urls = new Set(responses.map((r) => r.json<EchoBody>().url));
      expect(urls.size).toBe(500);
      await waitFor(() => inflight(gw.middleware.balancer) === 0, {
        message: 'in-flight counts to return to 0',
      });
    }, 30_000);

    test('a POST is not retried once the upstream has received it (a GET is)', async () => {
      // a reads the request, then drops the connection without answering.
      const a = await h.upstream('a', {
        behaviour: async (req, res) => {
          for await (const _chunk of req) void _chunk;
          res.socket?.destroy();
        },
      });
      const [b] = await h.upstreams(['b']);
      const gw = await h.gateway({ instances: instancesOf([a, b!]), strategy: 'round-robin' }, QUIET);

      const posts: Response[] = [];
      for (let i = 0; i < 4; i++)
        posts.push(await request(`${gw.url}/orders`, { method: 'POST', body: `order ${i}` }));
      const postsAtA = a.received.filter((r) => r.method === 'POST').length;
      const postsAtB = b!.received.filter((r) => r.method === 'POST').length;
      expect(postsAtA).toBeGreaterThan(0);
      expect(postsAtA + postsAtB).toBe(4); // each POST reached exactly one upstream
      expect(posts.filter((r) => r.status === 502)).toHaveLength(postsAtA);
      expect(posts.filter((r) => r.status === 200)).toHaveLength(postsAtB);

      const gets: Response[] = [];
      for (let i = 0; i < 4; i++) gets.push(await request(`${gw.url}/orders/${i}`));
      expect(gets.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect(a.received.filter((r) => r.method === 'GET').length).toBeGreaterThan(0);
    });

    test('hop-by-hop headers are stripped both ways and X-Forwarded-* are set', async () => {
      const a = await h.upstream('a', {
        behaviour: (_req, res) => {
          res.setHeader('connection', 'keep-alive, x-upstream-hop');
          res.setHeader('x-upstream-hop', 'secret');
          res.setHeader('x-upstream-end', 'kept');
          return 'default';
        },
      });
      const gw = await h.gateway({ instances: [a.url] }, QUIET);
      const res = await request(`${gw.url}/headers`, {
        headers: {
          connection: 'keep-alive, x-client-hop',
          'x-client-hop': 'secret',
          'keep-alive': 'timeout=5',
          'proxy-authorization': 'Basic c2VjcmV0',
          'x-client-end': 'kept',
          'x-forwarded-for': '203.0.113.7',
        },
      });
      expect(res.status).toBe(200);
      const seen = res.json<EchoBody>().headers;
      expect(seen['x-client-hop']).toBeUndefined();
      expect(seen['keep-alive']).toBeUndefined();
      expect(seen['proxy-authorization']).toBeUndefined();
      expect(seen['x-client-end']).toBe('kept');
      expect(seen['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
      expect(seen['x-forwarded-proto']).toBe('http');
      expect(seen['x-forwarded-host']).toBe(new URL(gw.url).host);
      expect(res.headers['x-upstream-hop']).toBeUndefined();
      expect(res.headers['x-upstream-end']).toBe('kept');
      expect(res.headers['x-upstream']).toBe('a');
    });

    test('a client abort aborts the upstream request and frees the lease', async () => {
      const a = await h.upstream('a', { behaviour: () => undefined }); // never answers
      const gw = await h.gateway({ instances: [a.url] }, { ...QUIET, timeoutMs: 30_000 });
      const controller = new AbortController();
      const pending = request(`${gw.url}/slow`, { signal: controller.signal });
      await waitFor(() => a.count() === 1, { message: 'the upstream to receive the request' });
      expect(inflight(gw.middleware.balancer)).toBe(1);
      controller.abort();
      await expect(pending).rejects.toThrow();
      await waitFor(() => a.received[0]!.aborted, { message: 'the upstream request to be aborted' });
      await waitFor(() => inflight(gw.middleware.balancer) === 0, { message: 'the lease to be released' });
    });

    test('proxy options that are not an object, or an onError that is not a function, throw at their field', () => {
      // Found by tools/reliability's hostile configurations: null escaped as a TypeError, and a
      // non-function onError was accepted, to fail at the first upstream error.
      const cases: [unknown, string][] = [
        [null, 'proxy'],
        [5, 'proxy'],
        [['retries'], 'proxy'],
        [{ onError: 'next' }, 'proxy.onError'],
      ];
      for (const [options, field] of cases) {
        let error: unknown;
        try {
          adapter.balancer({ instances: ['http://127.0.0.1:1'] }, options as never);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(BallastError);
        expect(error).toMatchObject({ code: 'BALLAST_INVALID_CONFIG', field });
      }
    });

    test('a WebSocket echoes through the proxy', async () => {
      const [a] = await h.upstreams(1);
      const gw = await h.gateway({ instances: [a!.url] }, QUIET);
      const wsUrl = `${gw.url.replace(/^http/, 'ws')}/chat`;
      await expect(webSocketEcho(wsUrl, 'hello')).resolves.toBe('a:hello');
      expect(a!.received.at(-1)).toMatchObject({ url: '/chat' });
    });

    test('active health checks take a failing instance out and bring it back', async () => {
      const [a, b] = await h.upstreams(2);
      const gw = await h.gateway(
        { instances: instancesOf([a!, b!]), strategy: 'round-robin' },
        { retries: 2, healthCheck: { path: '/health', intervalMs: 50 } },
      );
      const stateOf = (id: string) =>
        gw.middleware.balancer.snapshot().instances.find((i) => i.id === id)?.state;
      await waitFor(() => b!.healthChecks() > 0, { message: 'a first health check' });

      b!.healthy = false;
      await waitFor(() => stateOf('b') !== 'healthy' && stateOf('b') !== 'slow-start', {
        message: 'b to be taken out',
      });
      const before = b!.count();
      const out = await Promise.all(Array.from({ length: 10 }, () => request(`${gw.url}/x`)));
      expect(countByName(out)).toEqual({ a: 10 });
      expect(b!.count()).toBe(before);

      b!.healthy = true;
      await waitFor(() => stateOf('b') === 'healthy' || stateOf('b') === 'slow-start', {
        message: 'b to come back',
      });
      const back = await Promise.all(Array.from({ length: 10 }, () => request(`${gw.url}/x`)));
      expect(countByName(back).b ?? 0).toBeGreaterThan(0);
    });

    test('an existing balancer is used as it is', async () => {
      const ups = await h.upstreams(2);
      const existing = createBalancer({
        service: 'users',
        instances: instancesOf(ups),
        strategy: 'round-robin',
      });
      const gw = await h.gateway(existing, { ...QUIET, retries: 1 });
      expect(gw.middleware.balancer).toBe(existing);
      const res = await Promise.all([request(`${gw.url}/u`), request(`${gw.url}/u`)]);
      expect(countByName(res)).toEqual({ a: 1, b: 1 });
      existing.close();
    });

    describe('configuration from the environment', () => {
      const saved = { instances: process.env.BALLAST_INSTANCES, strategy: process.env.BALLAST_STRATEGY };
      afterEach(() => {
        for (const [key, value] of [
          ['BALLAST_INSTANCES', saved.instances],
          ['BALLAST_STRATEGY', saved.strategy],
        ] as const) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
      });

      test('balancer() with no arguments reads BALLAST_INSTANCES and BALLAST_STRATEGY', async () => {
        const ups = await h.upstreams(2);
        process.env.BALLAST_INSTANCES = ` ${ups[0]!.url} ,${ups[1]!.url},`;
        process.env.BALLAST_STRATEGY = 'round-robin';
        const gw = await h.serve(adapter.balancer());
        expect(gw.middleware.balancer.strategy).toBe('round-robin');
        expect(gw.middleware.balancer.instances().map((i) => i.id)).toEqual(ups.map((u) => u.url));
        const res = await Promise.all([request(`${gw.url}/e`), request(`${gw.url}/e`)]);
        expect(countByName(res)).toEqual({ a: 1, b: 1 });
      });

      test('options without instances take them from the environment', async () => {
        const [a] = await h.upstreams(1);
        process.env.BALLAST_INSTANCES = a!.url;
        delete process.env.BALLAST_STRATEGY;
        const mw = adapter.balancer({ service: 'from-env', strategy: 'random' }, QUIET);
        await mw.close();
        expect(mw.balancer.service).toBe('from-env');
        expect(mw.balancer.strategy).toBe('random');
        expect(mw.balancer.instances().map((i) => i.id)).toEqual([a!.url]);
      });

      test('neither options nor environment: BALLAST_INVALID_CONFIG naming both variables', () => {
        delete process.env.BALLAST_INSTANCES;
        delete process.env.BALLAST_STRATEGY;
        for (const call of [() => adapter.balancer(), () => adapter.balancer({ service: 'x' })]) {
          let thrown: unknown;
          try {
            call();
          } catch (err) {
            thrown = err;
          }
          expect(thrown).toBeInstanceOf(BallastError);
          expect((thrown as BallastError).code).toBe('BALLAST_INVALID_CONFIG');
          expect((thrown as Error).message).toMatch(/BALLAST_INSTANCES/);
          expect((thrown as Error).message).toMatch(/BALLAST_STRATEGY/);
        }
      });
    });

    test('leaves no open handles after close', async () => {
      const baseline = activeHandles();
      const local = createHarness(adapter);
      const ups = await local.upstreams(3);
      const withUpstreams = activeHandles();
      const gw = await local.gateway({ instances: instancesOf(ups) }, { healthCheck: { intervalMs: 20 } });
      await waitFor(() => ups.every((u) => u.healthChecks() > 1), { message: 'health checks to run' });
      const res = await Promise.all(Array.from({ length: 9 }, () => request(`${gw.url}/h`)));
      expect(res.map((r) => r.status)).toEqual(Array(9).fill(200));
      await expect(webSocketEcho(`${gw.url.replace(/^http/, 'ws')}/ws`, 'x')).resolves.toMatch(/:x$/);

      // The upstreams still run: only the gateway's own sockets, pools and timers must go.
      await gw.close();
      await expectNoHandlesBeyond(withUpstreams);
      const checks = ups.map((u) => u.healthChecks());
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(ups.map((u) => u.healthChecks())).toEqual(checks);
      await local.closeAll();
      await expectNoHandlesBeyond(baseline);
    });
  });
  describeGatewayFailures(label, adapter);
}
