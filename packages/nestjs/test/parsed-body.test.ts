import 'reflect-metadata';

import { randomBytes } from 'node:crypto';

import {
  answersWithVaryAndCookies,
  failOnProcessErrors,
  inflight,
  request,
  sha256,
  waitFor,
  type EchoBody,
} from '@ballast/testing';
import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { BallastModule, BallastProxyMiddleware, BallastService, type ServiceConfig } from '../src';
import { createNestHarness } from './nest-app';

// A request body Nest's body parser already read is re-sent through the proxy's `withBody`: it
// must be answered as the streamed path answers (hooks, earlier headers), re-sent in the bytes
// and charset the upstream can read, and never crash the process.
failOnProcessErrors();
const h = createNestHarness();
const apps: NestExpressApplication[] = [];
afterEach(async () => {
  while (apps.length > 0) await apps.pop()!.close();
  await h.closeAll();
});

type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

/** A gateway proxying `/users` to `users`, with `before` middleware ahead of the proxy. */
async function gateway(
  users: ServiceConfig,
  options: { before?: Middleware; rawBody?: boolean; parsers?: Array<'raw' | 'text'> } = {},
): Promise<string> {
  @Module({ imports: [BallastModule.forRoot({ services: { users }, logger: false })] })
  class AppModule implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      const chain = options.before
        ? [options.before, BallastProxyMiddleware.for('users')]
        : [BallastProxyMiddleware.for('users')];
      consumer.apply(...chain).forRoutes('users');
    }
  }
  const app = await NestFactory.create<NestExpressApplication>(AppModule, {
    logger: false,
    abortOnError: false,
    rawBody: options.rawBody ?? false,
  });
  apps.push(app);
  for (const parser of options.parsers ?? []) app.useBodyParser(parser);
  await app.listen(0, '127.0.0.1');
  return (await app.getUrl()).replace('[::1]', '127.0.0.1');
}

const json = (body: string) => ({
  method: 'POST',
  body,
  headers: { 'content-type': 'application/json' },
});

test("the service's proxy.onError answers a failed request whose JSON body was parsed, as it does a streamed one", async () => {
  const dead = await h.upstream('dead');
  await dead.kill();
  const url = await gateway({
    instances: [dead.url],
    proxy: {
      retries: 0,
      onError: (err, _req, res) => {
        res.writeHead(599, { 'x-handled': err.code }).end('custom');
      },
    },
  });
  const streamed = await request(`${url}/users/1`);
  expect([streamed.status, streamed.text]).toEqual([599, 'custom']);
  const parsed = await request(`${url}/users/1`, json('{"a":1}'));
  expect([parsed.status, parsed.text]).toEqual([599, 'custom']);
});

test('Set-Cookie and Vary set before the proxy are kept beside the upstream ones for a parsed JSON body', async () => {
  const up = await h.upstream('a', { behaviour: answersWithVaryAndCookies });
  const url = await gateway(
    { instances: [up.url], proxy: { retries: 0 } },
    {
      before: (_req, res, next) => {
        res.setHeader('set-cookie', 'gateway=g1');
        res.setHeader('vary', 'Origin');
        next();
      },
    },
  );
  for (const init of [{}, json('{"a":1}')]) {
    const res = await request(`${url}/users/1`, init);
    expect(res.status).toBe(200);
    expect(res.headers['set-cookie']).toEqual(['gateway=g1', 'session=s1', 'theme=dark']);
    expect(res.headers['vary']).toBe('Origin, Accept-Encoding');
  }
});

test('a response already sent by an earlier middleware (a request timeout) does not crash the process when the upstream answers later', async () => {
  const slow = await h.upstream('slow', { delayMs: 300 });
  const url = await gateway(
    { instances: [slow.url], proxy: { retries: 0 } },
    {
      before: (_req, res, next) => {
        // A request timeout answering 503 while the proxy still waits, as connect-timeout does.
        const timer = setTimeout(() => res.writeHead(503).end('timeout'), 50);
        res.on('close', () => clearTimeout(timer));
        next();
      },
    },
  );
  const res = await request(`${url}/users/1`, json('{"a":1}'));
  expect([res.status, res.text]).toEqual([503, 'timeout']);
  await waitFor(() => slow.received.length === 1 && slow.received[0]!.bodyBytes !== undefined);
  await new Promise((resolve) => setTimeout(resolve, 400)); // the upstream has answered by now
  const balancer = apps[0]!.get(BallastService).get('users');
  await waitFor(() => inflight(balancer) === 0, { message: 'the lease to be released' });
});

test('a UTF-16 JSON body, parsed and re-serialized, is labelled with the charset it is sent in', async () => {
  const [a] = await h.upstreams(1);
  const url = await gateway({ instances: [a!.url], proxy: { retries: 0 } });
  const text = '{"name":"Zoë"}';
  const res = await request(`${url}/users`, {
    method: 'POST',
    body: Buffer.from(`\ufeff${text}`, 'utf16le'),
    headers: { 'content-type': 'application/json; charset=utf-16le' },
  });
  expect(res.status).toBe(200);
  const echo = res.json<EchoBody>();
  const charset = /charset=([^;]+)/.exec(echo.headers['content-type']!)?.[1] ?? 'utf-8';
  const received = Buffer.from(echo.bodyText!, 'utf8');
  expect(JSON.parse(new TextDecoder(charset).decode(received))).toEqual({ name: 'Zoë' });
});

test('an ISO-8859-1 form, parsed and re-serialized, still reads as the same text upstream', async () => {
  const [a] = await h.upstreams(1);
  const url = await gateway({ instances: [a!.url], proxy: { retries: 0 } });
  const res = await request(`${url}/users`, {
    method: 'POST',
    body: 'name=Zo%EB', // ë in ISO-8859-1
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=iso-8859-1' },
  });
  expect(res.status).toBe(200);
  const echo = res.json<EchoBody>();
  const charset = /charset=([^;]+)/.exec(echo.headers['content-type']!)?.[1] ?? 'utf-8';
  // What a form parser does: percent-decode bytes, then decode them in the announced charset.
  const bytes = Buffer.from(unescape(echo.bodyText!.split('=')[1]!), 'latin1');
  expect(new TextDecoder(charset).decode(bytes)).toBe('Zoë');
});

test('a body read by a raw or text body parser (app.useBodyParser) is re-sent byte for byte', async () => {
  const [a] = await h.upstreams(1);
  const url = await gateway({ instances: [a!.url], proxy: { retries: 0 } }, { parsers: ['raw', 'text'] });
  const binary = randomBytes(2048);
  const raw = await request(`${url}/users/upload`, {
    method: 'PUT',
    body: binary,
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(raw.status).toBe(200);
  expect(raw.json<EchoBody>()).toMatchObject({ bodyBytes: binary.length, bodySha256: sha256(binary) });

  const text = await request(`${url}/users/note`, {
    method: 'POST',
    body: 'héllo',
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
  expect(text.status).toBe(200);
  expect(text.json<EchoBody>().bodyText).toBe('héllo');
});
