/**
 * The Koa adapter honours the proxy options it passes on and Koa's own settings:
 * `bufferResponseBytes: 0` streams every response (as the plain handler does), and with
 * `app.proxy` false (Koa's default: this app is the edge) the upstream hears Koa's own host and
 * scheme in X-Forwarded-*, never what a client wrote.
 */
import http from 'node:http';
import { inflight, request, waitFor } from '@ballast/testing';
import type { Middleware } from 'koa';
import { balancer } from '../src';
import { koaHarness } from './harness';

const h = koaHarness();

test('bufferResponseBytes: 0 streams a small response of known length (headers and first bytes before the upstream ends)', async () => {
  let finish: () => void = () => undefined;
  const up = await h.upstream((_req, res) => {
    res.writeHead(200, { 'content-length': '20', 'content-type': 'text/plain' });
    res.write('0123456789');
    const timer = setTimeout(() => res.end('abcdefghij'), 2000);
    finish = () => {
      clearTimeout(timer);
      res.end('abcdefghij');
    };
  });
  const mw = balancer({ instances: [up] }, { healthCheck: false, bufferResponseBytes: 0 });
  const gw = await h.serve(mw);

  const started = Date.now();
  const first = await new Promise<{ ms: number; chunk: string; res: http.IncomingMessage }>(
    (resolve, reject) => {
      const req = http.get(`${gw.url}/stream`, { agent: false }, (res) => {
        res.once('data', (chunk: Buffer) =>
          resolve({ ms: Date.now() - started, chunk: chunk.toString(), res }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
    },
  );
  finish();
  const rest: Buffer[] = [];
  for await (const c of first.res) rest.push(c as Buffer);
  // Streaming: the first 10 bytes arrive long before the upstream's 2 s pause ends.
  expect({ ms: first.ms < 1000, chunk: first.chunk }).toEqual({ ms: true, chunk: '0123456789' });
  expect(Buffer.concat(rest).toString()).toBe('abcdefghij');
  await waitFor(() => inflight(mw.balancer) === 0);
});

test('app.proxy = false: a client cannot spoof X-Forwarded-Host / X-Forwarded-Proto to the upstream', async () => {
  let seen: http.IncomingHttpHeaders = {};
  const up = await h.upstream((req, res) => {
    seen = req.headers;
    res.end('ok');
  });
  const koaSaw: string[] = [];
  const spy: Middleware = async (ctx, next) => {
    koaSaw.push(ctx.host, ctx.protocol);
    await next();
  };
  const mw = balancer({ instances: [up] }, { healthCheck: false });
  const gw = await h.serve(mw, [spy], (app) => {
    app.proxy = false;
  });
  const res = await request(`${gw.url}/reset-password`, {
    headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
  });
  expect(res.status).toBe(200);
  const host = new URL(gw.url).host;
  expect(koaSaw).toEqual([host, 'http']); // Koa ignores the client's claims...
  // ...and so should the upstream's view of the request.
  expect({ host: seen['x-forwarded-host'], proto: seen['x-forwarded-proto'] }).toEqual({
    host,
    proto: 'http',
  });
});

test('the trustForwarded option overrides app.proxy, either way', async () => {
  const seen: Array<string | string[] | undefined> = [];
  const up = await h.upstream((req, res) => {
    seen.push(req.headers['x-forwarded-proto']);
    res.end('ok');
  });
  const claims = { headers: { 'x-forwarded-proto': 'https' } };
  const trusting = await h.serve(balancer({ instances: [up] }, { healthCheck: false, trustForwarded: true }));
  expect((await request(`${trusting.url}/`, claims)).status).toBe(200);
  const refusing = await h.serve(
    balancer({ instances: [up] }, { healthCheck: false, trustForwarded: false }),
    [],
    (app) => {
      app.proxy = true;
    },
  );
  expect((await request(`${refusing.url}/`, claims)).status).toBe(200);
  expect(seen).toEqual(['https', 'http']);
});
