import 'reflect-metadata';

import { randomBytes } from 'node:crypto';

import {
  countByName,
  inflight,
  request,
  sha256,
  waitFor,
  webSocketEcho,
  type EchoBody,
  type Response,
} from '@ballast/testing';
import { Controller, Get, Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';

import { BallastModule, BallastProxyMiddleware, BallastService, type ServiceConfig } from '../src';
import type { NestExpressApplication } from '@nestjs/platform-express';

import { createNestHarness, instancesOf, type ServeOptions } from './nest-app';

const h = createNestHarness();
afterEach(() => h.closeAll());

@Controller('local')
class LocalController {
  @Get()
  hello() {
    return { local: true };
  }
}

/** An app that proxies `/users` (and everything below it) to the `users` service. */
async function gateway(
  users: ServiceConfig,
  options: { pathRewrite?: Record<string, string>; serve?: ServeOptions } = {},
) {
  @Module({
    imports: [BallastModule.forRoot({ services: { users }, logger: false })],
    controllers: [LocalController],
  })
  class AppModule implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      const middleware =
        options.pathRewrite === undefined
          ? BallastProxyMiddleware.for('users')
          : BallastProxyMiddleware.for('users', { pathRewrite: options.pathRewrite });
      consumer.apply(middleware).forRoutes('users');
    }
  }
  const served = await h.serve(AppModule, options.serve);
  return { ...served, balancer: served.app.get(BallastService).get('users') };
}

const QUIET = { retries: 2, retryBudget: false } as const;

test('the upstream sees the full path and query; other routes stay with Nest', async () => {
  const [a] = await h.upstreams(1);
  const gw = await gateway({ instances: [a!.url], proxy: QUIET });
  for (const path of ['/users', '/users/42?fields=name', '/users/42/orders/7']) {
    const res = await request(`${gw.url}${path}`);
    expect(res.status).toBe(200);
    expect(res.json<EchoBody>()).toMatchObject({ name: 'a', url: path });
  }
  const local = await request(`${gw.url}/local`);
  expect(local.json()).toEqual({ local: true });
  expect(a!.count()).toBe(3);
});

test('pathRewrite changes the path sent upstream', async () => {
  const [a] = await h.upstreams(1);
  const gw = await gateway(
    { instances: [a!.url], proxy: QUIET },
    { pathRewrite: { '^/users': '/v2/people' } },
  );
  const res = await request(`${gw.url}/users/42?x=1`);
  expect(res.json<EchoBody>().url).toBe('/v2/people/42?x=1');
});

test('round-robin spreads the proxied route exactly evenly over three upstreams', async () => {
  const ups = await h.upstreams(3);
  const gw = await gateway({ instances: instancesOf(ups), strategy: 'round-robin', proxy: QUIET });
  const responses: Response[] = [];
  for (let batch = 0; batch < 5; batch++) {
    responses.push(...(await Promise.all([0, 1, 2].map((i) => request(`${gw.url}/users/${batch}-${i}`)))));
  }
  expect(countByName(responses)).toEqual({ a: 5, b: 5, c: 5 });
});

test('a JSON body Nest already parsed is re-sent; with rawBody: true byte for byte', async () => {
  const [a] = await h.upstreams(1);
  const text = '{ "name": "Ada",\n  "tags": ["x", "y"] }';
  const post = (url: string) =>
    request(`${url}/users`, {
      method: 'POST',
      body: text,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
    });

  const parsed = await gateway({ instances: [a!.url], proxy: QUIET });
  const echo = (await post(parsed.url)).json<EchoBody>();
  expect(echo.method).toBe('POST');
  expect(JSON.parse(echo.bodyText!)).toEqual({ name: 'Ada', tags: ['x', 'y'] });
  expect(echo.headers['content-length']).toBe(String(echo.bodyBytes));

  const raw = await gateway({ instances: [a!.url], proxy: QUIET }, { serve: { rawBody: true } });
  const exact = (await post(raw.url)).json<EchoBody>();
  expect(exact.bodyText).toBe(text);
});

test('a urlencoded form Nest already parsed is re-sent', async () => {
  const [a] = await h.upstreams(1);
  const gw = await gateway({ instances: [a!.url], proxy: QUIET });
  const form = 'a=1&b=x+y&a=2';
  const res = await request(`${gw.url}/users/form`, {
    method: 'POST',
    body: form,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  const echo = res.json<EchoBody>();
  expect(Object.fromEntries(new URLSearchParams(echo.bodyText))).toEqual({ a: '2', b: 'x y' });
  expect(new URLSearchParams(echo.bodyText).getAll('a')).toEqual(['1', '2']);
});

test('a 1 MiB binary body streams through byte-identical', async () => {
  const [a] = await h.upstreams(1);
  const gw = await gateway({ instances: [a!.url], proxy: QUIET });
  const body = randomBytes(1024 * 1024);
  const res = await request(`${gw.url}/users/upload`, {
    method: 'PUT',
    body,
    headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
  });
  expect(res.json<EchoBody>()).toMatchObject({ bodyBytes: body.length, bodySha256: sha256(body) });
});

test('an upstream dying under load loses no request: retries go to the others', async () => {
  const ups = await h.upstreams(3, { delayMs: 30 });
  const gw = await gateway({ instances: instancesOf(ups), strategy: 'round-robin', proxy: QUIET });
  const all = Promise.all(Array.from({ length: 150 }, (_, i) => request(`${gw.url}/users/${i}`)));
  await waitFor(() => ups[1]!.count() >= 10, { message: 'b to receive requests' });
  await ups[1]!.kill();
  const responses = await all;
  expect(responses.filter((r) => r.status !== 200).map((r) => r.text)).toEqual([]);
  expect(new Set(responses.map((r) => r.json<EchoBody>().url)).size).toBe(150);
  await waitFor(() => inflight(gw.balancer) === 0, { message: 'leases to be released' });
}, 20_000);

test('no instance: 503 with Retry-After; an upstream too slow: 504', async () => {
  const empty = await gateway({ instances: [], proxy: QUIET });
  const none = await request(`${empty.url}/users/1`);
  expect(none.status).toBe(503);
  expect(none.headers['retry-after']).toMatch(/^\d+$/);

  const a = await h.upstream('a', { behaviour: () => undefined }); // never answers
  const slow = await gateway({ instances: [a.url], proxy: { retries: 0, timeoutMs: 150 } });
  const res = await request(`${slow.url}/users/1`);
  expect(res.status).toBe(504);
  await waitFor(() => inflight(slow.balancer) === 0, { message: 'the lease to be released' });
});

test('a client going away aborts the upstream request and frees the lease, for streamed and parsed bodies', async () => {
  const a = await h.upstream('a', { behaviour: () => undefined }); // never answers
  const gw = await gateway({ instances: [a.url], proxy: { retries: 0, timeoutMs: 30_000 } });
  const send = (init: { method?: string; body?: string; headers?: Record<string, string> }) => {
    const controller = new AbortController();
    const pending = request(`${gw.url}/users/slow`, { ...init, signal: controller.signal });
    return { pending, abort: () => controller.abort() };
  };
  for (const [i, init] of [
    {},
    { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } },
  ].entries()) {
    const call = send(init);
    await waitFor(() => a.count() === i + 1, { message: 'the upstream to receive the request' });
    expect(inflight(gw.balancer)).toBe(1);
    call.abort();
    await expect(call.pending).rejects.toThrow();
    await waitFor(() => a.received[i]!.aborted, { message: 'the upstream request to be aborted' });
    await waitFor(() => inflight(gw.balancer) === 0, { message: 'the lease to be released' });
  }
});

test("WebSockets are balanced once the service's proxy handles the server's upgrades", async () => {
  const [a] = await h.upstreams(1);
  const gw = await gateway({ instances: [a!.url], proxy: QUIET });
  const proxy = gw.app.get(BallastService).proxy('users');
  gw.app.getHttpServer().on('upgrade', proxy.upgrade);
  await expect(webSocketEcho(`${gw.url.replace(/^http/, 'ws')}/users/chat`, 'hi')).resolves.toBe('a:hi');
  expect(a!.received.at(-1)).toMatchObject({ url: '/users/chat' });
});

test("a client's X-Forwarded-Proto and -Host stand only if Express's trust proxy covers the peer", async () => {
  const [a] = await h.upstreams(1);
  const gw = await gateway({ instances: [a!.url], proxy: QUIET });
  const claims = { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' } };
  const seen = async () => {
    const { headers } = (await request(`${gw.url}/users/1`, claims)).json<EchoBody>();
    return [headers['x-forwarded-proto'], headers['x-forwarded-host']];
  };
  const host = new URL(gw.url).host;
  expect(await seen()).toEqual(['http', host]); // Express's default: no proxy trusted
  (gw.app as NestExpressApplication).set('trust proxy', 'loopback');
  expect(await seen()).toEqual(['https', 'evil.example']);

  const own = await gateway({ instances: [a!.url], proxy: { ...QUIET, trustForwarded: true } });
  const { headers } = (await request(`${own.url}/users/1`, claims)).json<EchoBody>();
  expect(headers['x-forwarded-proto']).toBe('https'); // the service's own option wins
});
