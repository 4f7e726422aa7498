import http from 'node:http';
import type { Readable } from 'node:stream';
import { createGzip, gunzipSync } from 'node:zlib';

import {
  answersWithVaryAndCookies,
  closeServer,
  createHarness,
  describeGateway,
  inflight,
  listen,
  QUIET,
  readAll,
  request,
  waitFor,
  type EchoBody,
} from '@ballast/testing';
import { createBalancer } from '@ballast/core';
import type { StatusSnapshot } from '@ballast/node';
import Koa, { type Middleware } from 'koa';

import { balancer, ProxyError, status, type BalancerMiddleware } from '../src';

/** A real Koa app on 127.0.0.1:0: the `before` middleware, then the balancer. */
async function serve(mw: BalancerMiddleware, before: Middleware[] = []) {
  const app = new Koa();
  app.silent = true; // errors are asserted on, not logged
  for (const m of before) app.use(m);
  app.use(mw);
  const handle = app.callback();
  const server = http.createServer((req, res) => void handle(req, res));
  server.on('upgrade', mw.upgrade);
  const url = await listen(server);
  return { url, server, close: () => closeServer(server) };
}

describeGateway('@ballast/koa', { balancer, serve: (mw) => serve(mw) });

describe('@ballast/koa in a Koa app', () => {
  const h = createHarness({ balancer, serve: (mw) => serve(mw) });
  afterEach(() => h.closeAll());

  /** Turns errors thrown downstream into 418 `<name> <code> <status>`, as an app's error middleware would. */
  const errors: Middleware = async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const e = err as Error & { code?: string; statusCode?: number };
      ctx.status = 418;
      ctx.body = `${e.name} ${e.code} ${e.statusCode ?? '-'}`;
    }
  };

  test('middleware before the proxy sees ctx.status and the upstream headers after next()', async () => {
    const [a] = await h.upstreams(1);
    const seen: string[] = [];
    const logger: Middleware = async (ctx, next) => {
      await next();
      seen.push(`${ctx.method} ${ctx.url} ${ctx.status} ${ctx.response.get('x-upstream')} ${ctx.type}`);
      ctx.set('x-logged', String(ctx.status));
    };
    const gw = await h.serve(balancer({ instances: [a!.url] }, QUIET), (mw) => serve(mw, [logger]));
    const res = await request(`${gw.url}/users/1`);
    expect(res.status).toBe(200);
    expect(res.headers['x-logged']).toBe('200');
    expect(res.headers['x-upstream']).toBe('a');
    expect(res.json<EchoBody>().url).toBe('/users/1');
    expect(seen).toEqual(['GET /users/1 200 a application/json']);

    const down = await h.serve(balancer({ instances: [] }, QUIET), (mw) => serve(mw, [logger]));
    const failed = await request(`${down.url}/users/1`);
    expect(failed.status).toBe(503);
    expect(failed.headers['x-logged']).toBe('503');
    expect(failed.headers['retry-after']).toMatch(/^\d+$/);
    expect(seen[1]).toMatch(/^GET \/users\/1 503 /);
  });

  test("Set-Cookie and Vary set before next() are kept beside the upstream's, not replaced", async () => {
    const a = await h.upstream('a', { behaviour: answersWithVaryAndCookies });
    // As @koa/cors and a visitor-id cookie do: headers set on the way in.
    const cors: Middleware = async (ctx, next) => {
      ctx.vary('Origin');
      ctx.cookies.set('visitor', 'v1');
      await next();
    };
    const gw = await h.serve(balancer({ instances: [a.url] }, QUIET), (mw) => serve(mw, [cors]));
    const res = await request(`${gw.url}/page`);
    expect(res.text).toBe('ok');
    expect(res.headers.vary).toBe('Origin, Accept-Encoding');
    expect(res.headers['set-cookie']).toEqual([
      expect.stringMatching(/^visitor=v1;/),
      'session=s1',
      'theme=dark',
    ]);
  });

  test('a compression middleware can re-encode the body stream set on ctx', async () => {
    const [a] = await h.upstreams(1);
    const gzip: Middleware = async (ctx, next) => {
      await next();
      ctx.body = (ctx.body as Readable).pipe(createGzip());
      ctx.set('content-encoding', 'gzip');
      ctx.remove('content-length');
    };
    const gw = await h.serve(balancer({ instances: [a!.url] }, QUIET), (mw) => serve(mw, [gzip]));
    const res = await request(`${gw.url}/compressed`);
    expect(res.headers['content-encoding']).toBe('gzip');
    const echo = JSON.parse(gunzipSync(res.body).toString('utf8')) as EchoBody;
    expect(echo).toMatchObject({ name: 'a', url: '/compressed' });
    await waitFor(() => inflight(gw.middleware.balancer) === 0, { message: 'the lease to be released' });
  });

  test('an upstream 204 and a HEAD end cleanly and release their lease', async () => {
    const a = await h.upstream('a', {
      behaviour: (req, res) => {
        if (req.method !== 'HEAD') res.writeHead(204, { 'x-empty': 'yes' }).end();
        return req.method === 'HEAD' ? 'default' : undefined;
      },
    });
    const gw = await h.gateway({ instances: [a.url] }, QUIET);
    const empty = await request(`${gw.url}/nothing`, { method: 'DELETE' });
    expect(empty.status).toBe(204);
    expect(empty.headers['x-empty']).toBe('yes');
    const head = await request(`${gw.url}/thing`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toHaveLength(0);
    await waitFor(() => inflight(gw.middleware.balancer) === 0, { message: 'the leases to be released' });
  });

  test("a small answer keeps the upstream's entity headers: a HEAD's Content-Length, no invented Content-Type", async () => {
    const a = await h.upstream('a', {
      behaviour: (req, res) => {
        if (req.url === '/untyped') res.writeHead(200, { 'content-length': '2' }).end('ok');
        else res.writeHead(200, { 'content-length': '5', 'content-type': 'text/plain' }).end('hello');
      },
    });
    const gw = await h.gateway({ instances: [a.url] }, QUIET);
    const head = await request(`${gw.url}/thing`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('5');
    expect(head.headers['content-type']).toBe('text/plain');
    const untyped = await request(`${gw.url}/untyped`);
    expect(untyped.text).toBe('ok');
    expect(untyped.headers['content-type']).toBeUndefined();
  });

  test('a client gone while earlier middleware ran: nothing is sent, nothing hangs, no lease is held', async () => {
    const [a] = await h.upstreams(1);
    const mw = balancer({ instances: [a!.url] }, { ...QUIET, timeoutMs: 30_000 });
    const finished: string[] = [];
    const logger: Middleware = async (ctx, next) => {
      await next();
      finished.push(ctx.url);
    };
    let arrived: () => void = () => undefined;
    // A slow middleware (authentication, a rate limiter) that the client does not wait for.
    const slow: Middleware = async (ctx, next) => {
      arrived();
      await new Promise((resolve) => ctx.res.once('close', resolve));
      await next();
    };
    const gw = await h.serve(mw, (mw) => serve(mw, [logger, slow]));
    // A small body is read whole before an instance is picked; a large one streams on a lease.
    for (const length of [100, 4 * 1024 * 1024]) {
      const reached = new Promise<void>((resolve) => (arrived = resolve));
      const req = http.request(`${gw.url}/upload/${length}`, {
        method: 'POST',
        headers: { 'content-length': String(length) },
        agent: false,
      });
      req.on('error', () => undefined);
      req.write('partial');
      await reached;
      req.destroy();
      await waitFor(() => finished.includes(`/upload/${length}`), { message: 'the request to end' });
      expect(inflight(mw.balancer)).toBe(0);
    }
    expect(a!.count()).toBe(0);
  });

  test('onError may throw to hand upstream failures to Koa error handling', async () => {
    const handled: unknown[] = [];
    const mw = balancer(
      { instances: [] },
      {
        ...QUIET,
        onError: (err) => {
          handled.push(err);
          throw err;
        },
      },
    );
    const gw = await h.serve(mw, (mw) => serve(mw, [errors]));
    const res = await request(`${gw.url}/x`);
    expect(res.status).toBe(418);
    expect(res.text).toBe('ProxyError BALLAST_NO_INSTANCE 503');
    expect(handled[0]).toBeInstanceOf(ProxyError);
  });

  test("Koa's own error handling answers a thrown 503 with its Retry-After", async () => {
    const mw = balancer(
      { instances: [] },
      {
        ...QUIET,
        onError: (err) => {
          throw err;
        },
      },
    );
    const gw = await h.serve(mw, (mw) => serve(mw));
    const res = await request(`${gw.url}/x`);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
  });

  describe('after a body parser', () => {
    /** Reads the body as a body parser would; keeps ctx.request.rawBody unless told not to. */
    const parser =
      (keepRaw: boolean): Middleware =>
      async (ctx, next) => {
        const raw = (await readAll(ctx.req)).toString('utf8');
        const request = ctx.request as typeof ctx.request & { rawBody?: string; body?: unknown };
        if (keepRaw) request.rawBody = raw;
        request.body = ctx.is('json') ? JSON.parse(raw) : raw;
        await next();
      };

    test('ctx.request.rawBody is re-sent with a correct Content-Length', async () => {
      const [a] = await h.upstreams(1);
      const gw = await h.serve(balancer({ instances: [a!.url] }, QUIET), (mw) => serve(mw, [parser(true)]));
      const body = '{ "name": "Ada", "city": "Zürich" }';
      const res = await request(`${gw.url}/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        body,
      });
      expect(res.status).toBe(200);
      const echo = res.json<EchoBody>();
      expect(echo.bodyText).toBe(body);
      expect(echo.headers['content-length']).toBe(String(Buffer.byteLength(body)));
      expect(echo.headers['transfer-encoding']).toBeUndefined();
    });

    test('without rawBody the body is rebuilt from ctx.request.body; one that cannot be is a clear error, not a hang', async () => {
      const [a] = await h.upstreams(1);
      const gw = await h.serve(balancer({ instances: [a!.url] }, QUIET), (mw) =>
        serve(mw, [errors, parser(false)]),
      );
      const text = await request(`${gw.url}/users`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'Zoë',
      });
      expect(text.status).toBe(200);
      // Decoded by the parser, re-sent as UTF-8 and labelled so: text/* has no UTF-8 default.
      expect(text.json<EchoBody>().headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(text.json<EchoBody>().bodyText).toBe('Zoë');

      const form = await request(`${gw.url}/users`, {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=x' },
        body: '--x--',
      });
      expect(form.status).toBe(200); // the test parser left a string: re-sent as text
      const upstreamCalls = a!.count();
      const unreadable = await h.serve(balancer({ instances: [a!.url] }, QUIET), (mw) =>
        serve(mw, [
          errors,
          async (ctx, next) => {
            await readAll(ctx.req);
            (ctx.request as { body?: unknown }).body = { files: [] }; // what a multipart parser leaves
            await next();
          },
        ]),
      );
      const res = await request(`${unreadable.url}/users`, {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=x' },
        body: '--x--',
      });
      expect(res.status).toBe(418);
      expect(res.text).toBe('BallastError BALLAST_BODY_CONSUMED -');
      expect(a!.count()).toBe(upstreamCalls);
    });
  });

  test('status() answers under its path prefix, Koa-style, and passes other requests on', async () => {
    const ups = await h.upstreams(2);
    const mw = balancer({ service: 'users', instances: ups.map((u) => u.url) }, QUIET);
    const statusMw = status(mw, { token: 't0ken' });
    expect(statusMw.name).toBe('ballastStatus');
    const gw = await h.serve(mw, (mw) => serve(mw, [statusMw]));
    for (let i = 0; i < 4; i++) expect((await request(`${gw.url}/users/${i}`)).status).toBe(200);

    const auth = { authorization: 'Bearer t0ken' };
    for (const path of ['/ballast', '/ballast/']) {
      const page = await request(`${gw.url}${path}`, { headers: auth });
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['content-security-policy']).toContain("default-src 'none'");
      expect(Number(page.headers['content-length'])).toBe(page.body.length);
    }
    const res = await request(`${gw.url}/ballast/snapshot.json?token=t0ken`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    const snapshot = res.json<StatusSnapshot>();
    expect(snapshot.services[0]!.service).toBe('users');
    const instances = snapshot.services[0]!.instances;
    expect(instances.map((i) => i.id)).toEqual(ups.map((u) => u.url));
    expect(instances.map((i) => i.recent.requests)).toEqual([2, 2]);

    const head = await request(`${gw.url}/ballast/`, { method: 'HEAD', headers: auth });
    expect(head.status).toBe(200);
    expect(head.body).toHaveLength(0);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(1000);
    const denied = await request(`${gw.url}/ballast/snapshot.json?token=nope`);
    expect(denied.status).toBe(401);
    expect(denied.text).toBe('Unauthorized\n');
    expect((await request(`${gw.url}/ballast/other`, { headers: auth })).status).toBe(404);
    expect((await request(`${gw.url}/ballast/`, { method: 'DELETE', headers: auth })).status).toBe(405);
    // Outside the prefix, and a path that only starts like it, go to the proxy.
    expect((await request(`${gw.url}/users`)).json<EchoBody>().url).toBe('/users');
    expect((await request(`${gw.url}/ballastic`)).json<EchoBody>().url).toBe('/ballastic');
    statusMw.close();
  });

  test('status() with path "/" serves whatever path a mount left, as koa-mount does', async () => {
    const ups = await h.upstreams(1);
    const mw = balancer({ service: 'users', instances: [ups[0]!.url] }, QUIET);
    const statusMw = status(mw, { path: '/' });
    // What koa-mount does: strip the prefix from ctx.path for the mounted middleware.
    const mounted: Middleware = async (ctx, next) => {
      if (ctx.path !== '/admin' && !ctx.path.startsWith('/admin/')) return next();
      const original = ctx.path;
      ctx.path = ctx.path.slice('/admin'.length) || '/';
      try {
        await statusMw(ctx, () => Promise.resolve());
      } finally {
        ctx.path = original;
      }
    };
    const gw = await h.serve(mw, (mw) => serve(mw, [mounted]));
    expect((await request(`${gw.url}/admin`)).status).toBe(200);
    expect((await request(`${gw.url}/admin/snapshot.json`)).json<StatusSnapshot>().services).toHaveLength(1);
    expect((await request(`${gw.url}/admin/nope`)).status).toBe(404);
    expect((await request(`${gw.url}/elsewhere`)).json<EchoBody>().url).toBe('/elsewhere');
    expect(() => status(mw, { path: 'ballast' })).toThrow(/status\.path/);
    statusMw.close();
  });

  test('status() options that are not an object are a config error naming status, never a TypeError', () => {
    const users = createBalancer({ service: 'users', instances: ['http://127.0.0.1:1'] });
    for (const options of ['ballast', 42, ['/ballast']]) {
      expect(() => status(users, options as never).close()).toThrow(
        expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field: 'status' }),
      );
    }
    status(users, null as never).close(); // no options, as the node handler takes them
    users.close();
  });
});
