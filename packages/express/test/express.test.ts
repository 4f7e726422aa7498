import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import { gzipSync } from 'node:zlib';

import {
  answersWithVaryAndCookies,
  closeServer,
  createHarness,
  describeGateway,
  listen,
  QUIET,
  request,
  sha256,
  type EchoBody,
} from '@ballast/testing';
import type { StatusSnapshot } from '@ballast/node';
import express, { type ErrorRequestHandler, type Express } from 'express';
import qs from 'qs';

import { balancer, BallastError, ProxyError, status, type BalancerMiddleware } from '../src';

/** A real Express app on 127.0.0.1:0; `setup` mounts the middleware (default: at the root). */
async function serve(mw: BalancerMiddleware, setup: (app: Express) => void = (app) => app.use(mw)) {
  const app = express();
  setup(app);
  const server = http.createServer(app);
  server.on('upgrade', mw.upgrade);
  const url = await listen(server);
  return { url, server, close: () => closeServer(server) };
}

describeGateway('@ballast/express', { balancer, serve: (mw) => serve(mw) });

describe('@ballast/express in an Express app', () => {
  const h = createHarness({ balancer, serve: (mw) => serve(mw) });
  afterEach(() => h.closeAll());

  /** Reports errors that reach the application's error handler as 418 `<name> <code> <status>`. */
  const errorHandler: ErrorRequestHandler = (
    err: Error & { code?: string; statusCode?: number },
    _req,
    res,
    _next,
  ) => {
    res
      .status(418)
      .type('text')
      .send(`${err.name} ${err.code} ${err.statusCode ?? '-'}`);
  };

  test('mounted under a path, the upstream sees the path without it', async () => {
    const [a] = await h.upstreams(1);
    const mounted = balancer({ instances: [a!.url] }, QUIET);
    const app = await h.serve(mounted, (mw) => serve(mw, (app) => app.use('/api', mw)));
    const res = await request(`${app.url}/api/users/42?fields=name`);
    expect(res.status).toBe(200);
    expect(res.json<EchoBody>().url).toBe('/users/42?fields=name');
    expect((await request(`${app.url}/api`)).json<EchoBody>().url).toBe('/');
    expect((await request(`${app.url}/other`)).status).toBe(404);
    expect(a!.count()).toBe(2);
  });

  describe('after a body parser', () => {
    async function parsedGateway(...parsers: express.RequestHandler[]) {
      const [a] = await h.upstreams(1);
      const mw = balancer({ instances: [a!.url] }, QUIET);
      const gw = await h.serve(mw, (mw) => serve(mw, (app) => app.use(...parsers, mw).use(errorHandler)));
      return { url: gw.url, upstream: a! };
    }

    test('express.json(): the parsed body is re-sent with a correct Content-Length', async () => {
      const gw = await parsedGateway(express.json());
      const sent = '{ "name" : "Ada",\n  "tags": [1, 2, 3] }';
      const expected = JSON.stringify(JSON.parse(sent));
      const res = await request(`${gw.url}/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: sent,
      });
      expect(res.status).toBe(200);
      const echo = res.json<EchoBody>();
      expect(echo.bodyText).toBe(expected);
      expect(echo.headers['content-length']).toBe(String(Buffer.byteLength(expected)));
      expect(echo.headers['transfer-encoding']).toBeUndefined();
    });

    test('a raw body kept by the parser (`verify`) is re-sent byte for byte, not re-encoded', async () => {
      // The common way to keep the exact bytes (webhook signatures): body-parser's verify hook.
      const keep = (req: IncomingMessage, _res: unknown, buf: Buffer) => {
        (req as IncomingMessage & { rawBody?: Buffer }).rawBody = buf;
      };
      const gw = await parsedGateway(express.json({ verify: keep }));
      // JSON.parse would round the id and drop the spacing a signature covers.
      const sent = '{ "id": 12345678901234567890, "note": "keep me" }';
      const res = await request(`${gw.url}/hooks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: sent,
      });
      const echo = res.json<EchoBody>();
      expect(echo.bodyText).toBe(sent);
      expect(echo.headers['content-length']).toBe(String(Buffer.byteLength(sent)));
    });

    test('express.json() on a gzipped body: re-sent decoded, without Content-Encoding', async () => {
      const gw = await parsedGateway(express.json());
      const value = { id: 7, text: 'é'.repeat(100) };
      const res = await request(`${gw.url}/users`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip' },
        body: gzipSync(JSON.stringify(value)),
      });
      const echo = res.json<EchoBody>();
      expect(JSON.parse(echo.bodyText!)).toEqual(value);
      expect(echo.headers['content-encoding']).toBeUndefined();
      expect(echo.headers['content-length']).toBe(String(echo.bodyBytes));
    });

    test('express.urlencoded(), express.text() and express.raw() bodies are re-sent', async () => {
      const gw = await parsedGateway(
        express.urlencoded({ extended: false }),
        express.text(),
        express.raw({ type: 'application/octet-stream', limit: '1mb' }),
      );
      const form = await request(`${gw.url}/form`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'a=1&b=x%20y&b=z',
      });
      expect(form.json<EchoBody>().bodyText).toBe('a=1&b=x+y&b=z');

      const text = await request(`${gw.url}/text`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'plain text ✓',
      });
      expect(text.json<EchoBody>().bodyText).toBe('plain text ✓');

      const bytes = randomBytes(256 * 1024);
      const raw = await request(`${gw.url}/raw`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: bytes,
      });
      expect(raw.json<EchoBody>().bodySha256).toBe(sha256(bytes));
      expect(gw.upstream.count()).toBe(3);
    });

    test('express.text() with a latin1 charset: the text arrives intact, labelled UTF-8', async () => {
      const gw = await parsedGateway(express.text());
      const res = await request(`${gw.url}/text`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=ISO-8859-1' },
        body: Buffer.from('café crème', 'latin1'),
      });
      const echo = res.json<EchoBody>();
      expect(echo.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(echo.bodyText).toBe('café crème');
    });

    test('express.text() with a latin1 default charset and none in the request: labelled UTF-8 too', async () => {
      const gw = await parsedGateway(express.text({ defaultCharset: 'latin1' }));
      const res = await request(`${gw.url}/text`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: Buffer.from('café crème', 'latin1'),
      });
      const echo = res.json<EchoBody>();
      expect(echo.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(echo.bodyText).toBe('café crème');
    });

    test('express.urlencoded({ extended: true }): nested fields and one-item lists arrive as parsed', async () => {
      const gw = await parsedGateway(express.urlencoded({ extended: true }));
      const sent = 'a[]=1&b=x&b=y&user[name]=Ann&user[tags][]=t&rows[0][id]=7&rows[1][id]=8&plain=z';
      const res = await request(`${gw.url}/form`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: sent,
      });
      const echo = res.json<EchoBody>();
      // The upstream parses what it receives as the gateway's parser did what the client sent.
      const parse = (form: string) => qs.parse(form, { depth: 32 });
      expect(parse(echo.bodyText!)).toEqual(parse(sent));
      expect(parse(echo.bodyText!)).toEqual({
        a: ['1'],
        b: ['x', 'y'],
        user: { name: 'Ann', tags: ['t'] },
        rows: [{ id: '7' }, { id: '8' }],
        plain: 'z',
      });
    });

    test('express.urlencoded() of an ISO-8859-1 form: re-encoded as UTF-8 and labelled so', async () => {
      const gw = await parsedGateway(express.urlencoded({ extended: false }));
      const res = await request(`${gw.url}/form`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=iso-8859-1' },
        body: 'name=caf%E9+cr%E8me',
      });
      const echo = res.json<EchoBody>();
      // The parser decoded %E9 as ISO-8859-1; the re-sent form percent-encodes UTF-8 bytes.
      expect(echo.bodyText).toBe('name=caf%C3%A9+cr%C3%A8me');
      expect(echo.headers['content-type']).toBe('application/x-www-form-urlencoded; charset=utf-8');
    });

    test("re-sent body: Set-Cookie and Vary set before the proxy are kept beside the upstream's", async () => {
      const a = await h.upstream('a', { behaviour: answersWithVaryAndCookies });
      const mw = balancer({ instances: [a.url] }, QUIET);
      // As cors and a visitor-id cookie do: headers set on the way in.
      const cors: express.RequestHandler = (_req, res, next) => {
        res.vary('Origin');
        res.cookie('visitor', 'v1');
        next();
      };
      const gw = await h.serve(mw, (mw) => serve(mw, (app) => app.use(cors, express.json(), mw)));
      const res = await request(`${gw.url}/form`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      expect(res.text).toBe('ok');
      expect(res.headers.vary).toBe('Origin, Accept-Encoding');
      expect(res.headers['set-cookie']).toEqual(['visitor=v1; Path=/', 'session=s1', 'theme=dark']);
    });

    test('express.json() of a UTF-16 body: re-sent as UTF-8 and labelled so', async () => {
      const gw = await parsedGateway(express.json());
      const text = JSON.stringify({ name: 'café' });
      const res = await request(`${gw.url}/json`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-16le' },
        body: Buffer.from(text, 'utf16le'),
      });
      const echo = res.json<EchoBody>();
      expect(echo.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(echo.bodyText).toBe(text);
    });

    test('a client gone while earlier middleware ran: the parsed body is not sent upstream', async () => {
      let arrived: () => void = () => undefined;
      const reached = new Promise<void>((resolve) => (arrived = resolve));
      let proxied: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (proxied = resolve));
      // A slow middleware (authentication, a rate limiter) that the client does not wait for.
      const slow: express.RequestHandler = (_req, res, next) => {
        arrived();
        res.once('close', () => {
          next();
          proxied();
        });
      };
      const gw = await parsedGateway(express.json(), slow);
      const req = http.request(`${gw.url}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        agent: false,
      });
      req.on('error', () => undefined);
      req.end('{"order":1}');
      await reached;
      req.destroy();
      await done;
      // As on the streaming path: no order is placed for a client that is no longer there.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(gw.upstream.count()).toBe(0);
    });

    test('a body read but not kept in req.body is a clear error, not a hang', async () => {
      const drain: express.RequestHandler = (req, _res, next) => {
        req.resume();
        req.once('end', () => next());
      };
      const gw = await parsedGateway(drain);
      const res = await request(`${gw.url}/upload`, {
        method: 'POST',
        headers: { 'content-type': 'application/pdf' },
        body: 'not really a pdf',
      });
      expect(res.status).toBe(418);
      expect(res.text).toBe('BallastError BALLAST_BODY_CONSUMED -');
      expect(gw.upstream.count()).toBe(0);

      // A consumed request without a body is still proxied.
      const get = await request(`${gw.url}/nobody`);
      expect(get.status).toBe(200);
    });
  });

  test('onError calling next(err) hands upstream failures to the app error handler', async () => {
    const handled: unknown[] = [];
    const mw = balancer(
      { instances: [] },
      {
        ...QUIET,
        onError: (err, _req, _res, next) => {
          handled.push(err);
          next(err);
        },
      },
    );
    const app = await h.serve(mw, (mw) => serve(mw, (app) => app.use(express.json(), mw).use(errorHandler)));
    const get = await request(`${app.url}/x`);
    expect(get.status).toBe(418);
    expect(get.text).toBe('ProxyError BALLAST_NO_INSTANCE 503');
    // The re-sent-body path hands its failures over the same way.
    const post = await request(`${app.url}/x`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(post.text).toBe('ProxyError BALLAST_NO_INSTANCE 503');
    expect(handled).toHaveLength(2);
    expect(handled[0]).toBeInstanceOf(ProxyError);
    expect(handled[0]).toBeInstanceOf(BallastError);
  });

  test("Express's own error handler answers a handed-over 503 with its Retry-After", async () => {
    const mw = balancer({ instances: [] }, { ...QUIET, onError: (err, _req, _res, next) => next(err) });
    const app = await h.serve(mw, (mw) => serve(mw, (app) => app.use(mw)));
    const res = await request(`${app.url}/x`);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
  });

  test.each([
    [
      'throws',
      () => {
        throw new Error('hook bug');
      },
    ],
    ['rejects', () => Promise.reject(new Error('async hook bug'))],
  ])('an onError that %s still gets the proxy answer on both paths, not a hang', async (_how, onError) => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const mw = balancer({ instances: [] }, { ...QUIET, onError });
    const app = await h.serve(mw, (mw) => serve(mw, (app) => app.use(express.json(), mw)));
    // As on the streaming path, where the proxy itself catches the hook.
    expect((await request(`${app.url}/x`)).status).toBe(503);
    const post = await request(`${app.url}/x`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(post.status).toBe(503);
    expect(post.headers['retry-after']).toMatch(/^\d+$/);
    await new Promise((resolve) => setImmediate(resolve));
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  test('status() mounted with app.use serves the page and snapshot relative to its mount', async () => {
    const ups = await h.upstreams(2);
    const mw = balancer(
      { service: 'users', instances: ups.map((u) => u.url), strategy: 'round-robin' },
      QUIET,
    );
    const handler = status(mw, { token: 't0ken' });
    expect(handler.name).toBe('ballastStatus');
    const app = await h.serve(mw, (mw) => serve(mw, (app) => app.use('/ballast', handler).use('/api', mw)));
    for (let i = 0; i < 4; i++) expect((await request(`${app.url}/api/users/${i}`)).status).toBe(200);

    const auth = { authorization: 'Bearer t0ken' };
    for (const path of ['/ballast', '/ballast/']) {
      const page = await request(`${app.url}${path}`, { headers: auth });
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['content-security-policy']).toContain("default-src 'none'");
      expect(page.text).toContain('snapshot.json');
    }
    const res = await request(`${app.url}/ballast/snapshot.json?token=t0ken`);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const snapshot = res.json<StatusSnapshot>();
    expect(snapshot.services[0]).toMatchObject({ service: 'users', strategy: 'round-robin' });
    const instances = snapshot.services[0]!.instances;
    expect(instances.map((i) => i.id)).toEqual(ups.map((u) => u.url));
    expect(instances.map((i) => i.recent.requests)).toEqual([2, 2]);

    expect((await request(`${app.url}/ballast/snapshot.json`)).status).toBe(401);
    expect((await request(`${app.url}/ballast/other`, { headers: auth })).status).toBe(404);
    const post = await request(`${app.url}/ballast/snapshot.json`, { method: 'POST', headers: auth });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    // Outside its mount the status page takes nothing.
    expect((await request(`${app.url}/api/snapshot.json`)).json<EchoBody>().url).toBe('/snapshot.json');
    handler.close();
    expect((await request(`${app.url}/ballast/`, { headers: auth })).status).toBe(503);
  });
});
