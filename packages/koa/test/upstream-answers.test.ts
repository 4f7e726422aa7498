/**
 * Upstream answers that the Koa adapter must hand to Koa as Koa expects them:
 *
 * - A repeated field Koa reads as one string (two Content-Type lines, two ETags, as a framework
 *   and the server in front of it each add one): undici hands such repeats over as an array, and
 *   Koa's getters (`ctx.type`, `ctx.response.lastModified`, `ctx.fresh`) assume the string Node's
 *   own HTTP parser would have kept.
 * - A failure after the response head and some of the body, while the body is on `ctx` but Koa
 *   has not started sending it (a middleware before the proxy is still at work after `await
 *   next()`): nothing has gone out to the client yet, so it can still get a 502, and the failure
 *   is logged through Koa's `app.on('error')`, the one log a Koa app has.
 */
import http from 'node:http';
import { Readable } from 'node:stream';

import { inflight, request, waitFor } from '@ballast/testing';
import type { Middleware } from 'koa';

import { balancer, ProxyError } from '../src';
import { koaHarness } from './harness';

const h = koaHarness();

test.each([
  ['with a Content-Length (held whole)', true],
  ['without one (streamed)', false],
])(
  'Koa: an upstream repeating Content-Type, ETag and Last-Modified %s: middleware reads them as Node would (the first), no 500',
  async (_label, held) => {
    // Node writes each item of an array value as a field line of its own.
    const upstream = await h.upstream((req, res) => {
      res.setHeader('content-type', ['text/plain', 'text/html']);
      res.setHeader('etag', ['"v1"', '"v2"']);
      res.setHeader('last-modified', ['Tue, 01 Jul 2025 10:00:00 GMT', 'Wed, 02 Jul 2025 10:00:00 GMT']);
      if (held) res.setHeader('content-length', '5');
      res.end('hello');
    });
    const mw = balancer({ instances: [upstream] }, { healthCheck: false, retries: 0 });
    const seen: unknown[] = [];
    // A logger and a conditional-GET middleware, as koa-logger and koa-conditional-get read them.
    const logger: Middleware = async (ctx, next) => {
      await next();
      seen.push([
        ctx.status,
        ctx.type,
        ctx.response.etag,
        ctx.response.lastModified?.toISOString(),
        ctx.fresh,
      ]);
    };
    const { url } = await h.serve(mw, [logger]);
    const res = await request(`${url}/page`, { headers: { 'if-none-match': '"v1"' } });
    expect(seen).toEqual([[200, 'text/plain', '"v1"', '2025-07-01T10:00:00.000Z', true]]);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain');
    await waitFor(() => inflight(mw.balancer) === 0, { message: 'the lease to be released' });
  },
);

/** Status and body bytes the client got, or how its request failed. */
function get(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (error) => resolve(`${res.statusCode} then ${error.message}`));
      res.on('end', () => resolve(`${res.statusCode} ${Buffer.concat(chunks).toString()}`));
    });
    req.on('error', (error) => resolve(error.message));
  });
}

test('Koa: an upstream failing mid-body while an earlier middleware still holds the response: 502 and a logged error, not a silent reset', async () => {
  const upstream = await h.upstream((req, res) => {
    res.writeHead(200, { 'content-length': String(256 * 1024), 'content-type': 'text/plain' });
    res.write(Buffer.alloc(1_000, 'x'));
    setTimeout(() => res.destroy(), 20);
  });
  const mw = balancer({ instances: [upstream] }, { healthCheck: false });
  const seen: number[] = [];
  // A logger that awaits something of its own (a metrics flush) before Koa sends the response.
  const logger: Middleware = async (ctx, next) => {
    await next();
    const body = ctx.body;
    if (body instanceof Readable && !body.destroyed)
      await new Promise((resolve) => body.once('close', resolve));
    seen.push(ctx.status);
  };
  const errors: unknown[] = [];
  const { url } = await h.serve(mw, [logger], (app) => app.on('error', (err) => errors.push(err)));
  const answer = await get(`${url}/report`);
  expect({ answer, seen }).toEqual({ answer: '502 Bad Gateway', seen: [502] });
  expect(errors).toEqual([expect.any(ProxyError)]);
  await waitFor(() => inflight(mw.balancer) === 0, { message: 'the lease to be released' });
});
