/**
 * The engine's answers to a client's faults (408 for an upload that trickles past timeoutMs, 400
 * for a transfer coding other than chunked), seen through the Koa adapter.
 */
import { gzipChunkedUpload, inflight, recordBodies, trickle, waitFor } from '@ballast/testing';
import type { Middleware } from 'koa';

import { balancer } from '../src';
import { koaHarness } from './harness';

const h = koaHarness();

/** Reads the body and keeps it in ctx.request.rawBody, as @koa/bodyparser and koa-bodyparser do. */
const rawBodyParser: Middleware = async (ctx, next) => {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
  (ctx.request as { rawBody?: string }).rawBody = Buffer.concat(chunks).toString('latin1');
  await next();
};

test('Koa: a small upload of announced length that trickles gets 408 once timeoutMs runs out', async () => {
  const upstream = await h.upstream(recordBodies([]));
  const mw = balancer({ instances: [upstream] }, { timeoutMs: 300, healthCheck: false });
  const seen: number[] = [];
  const logger: Middleware = async (ctx, next) => {
    await next();
    seen.push(ctx.status);
  };
  const { url } = await h.serve(mw, [logger]);
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
  const upstream = await h.upstream(recordBodies(bodies));
  const mw = balancer({ instances: [upstream] }, { healthCheck: false });
  const { url } = await h.serve(mw, [rawBodyParser]);
  const head = gzipChunkedUpload('text/plain');
  const { answer } = await trickle(url, head, () => '', 60_000, 1_500);
  const forwarded = bodies.map((b) => b.subarray(0, 2).toString('hex'));
  expect({ status: answer.slice(0, 12), forwarded }).toEqual({ status: 'HTTP/1.1 400', forwarded: [] });
}, 15_000);
