/**
 * The engine's answers to a client's faults (408 for an upload that trickles past timeoutMs, 400
 * for a transfer coding other than chunked), seen through the Koa adapter.
 */
import http from 'node:http';

import {
  closeServer,
  gzipChunkedUpload,
  inflight,
  listen,
  recordBodies,
  trickle,
  waitFor,
} from '@ballast/testing';
import Koa, { type Middleware } from 'koa';

import { balancer, type BalancerMiddleware } from '../src';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** An upstream that records the bodies it gets and answers `ok`. */
async function recordingUpstream(bodies: Buffer[]): Promise<string> {
  const server = http.createServer(recordBodies(bodies));
  const url = await listen(server);
  closers.push(async () => {
    server.closeAllConnections();
    await closeServer(server);
  });
  return url;
}

async function serve(mw: BalancerMiddleware, before: Middleware[] = []): Promise<string> {
  const app = new Koa();
  app.silent = true;
  for (const m of before) app.use(m);
  app.use(mw);
  const handle = app.callback();
  const server = http.createServer((req, res) => void handle(req, res));
  const url = await listen(server);
  closers.push(async () => {
    server.closeAllConnections();
    await closeServer(server);
    await mw.close();
  });
  return url;
}

/** Reads the body and keeps it in ctx.request.rawBody, as @koa/bodyparser and koa-bodyparser do. */
const rawBodyParser: Middleware = async (ctx, next) => {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
  (ctx.request as { rawBody?: string }).rawBody = Buffer.concat(chunks).toString('latin1');
  await next();
};

test('Koa: a small upload of announced length that trickles gets 408 once timeoutMs runs out', async () => {
  const upstream = await recordingUpstream([]);
  const mw = balancer({ instances: [upstream] }, { timeoutMs: 300, healthCheck: false });
  const seen: number[] = [];
  const logger: Middleware = async (ctx, next) => {
    await next();
    seen.push(ctx.status);
  };
  const url = await serve(mw, [logger]);
  // 100 bytes announced, one every 50 ms (5 s in all); timeoutMs is 300 ms.
  const { answer } = await trickle(
    url,
    'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n',
    (b) => b,
    50,
    3_000,
  );
  expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  expect(seen).toEqual([408]);
  await waitFor(() => inflight(mw.balancer) === 0, { message: 'the lease to be released' });
}, 15_000);

test('Koa after a body parser that keeps rawBody: a `gzip, chunked` upload gets 400, not forwarded still coded', async () => {
  const bodies: Buffer[] = [];
  const upstream = await recordingUpstream(bodies);
  const mw = balancer({ instances: [upstream] }, { healthCheck: false });
  const url = await serve(mw, [rawBodyParser]);
  const head = gzipChunkedUpload('text/plain');
  const { answer } = await trickle(url, head, () => '', 60_000, 1_500);
  const forwarded = bodies.map((b) => b.subarray(0, 2).toString('hex'));
  expect({ status: answer.slice(0, 12), forwarded }).toEqual({ status: 'HTTP/1.1 400', forwarded: [] });
}, 15_000);
