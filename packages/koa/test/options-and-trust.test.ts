/**
 * The Koa adapter honours the proxy options it passes on and Koa's own settings:
 * `bufferResponseBytes: 0` streams every response (as the plain handler does), and with
 * `app.proxy` false (Koa's default: this app is the edge) the upstream hears Koa's own host and
 * scheme in X-Forwarded-*, never what a client wrote.
 */
import http from 'node:http';
import { closeServer, failOnProcessErrors, inflight, listen, request, waitFor } from '@ballast/testing';
import Koa, { type Middleware } from 'koa';
import { balancer, type BalancerMiddleware } from '../src';

/** Servers started by a test, closed newest first; process-level crashes fail the test. */
function koaHarness() {
  const closers: Array<() => Promise<void>> = [];
  failOnProcessErrors();
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function upstream(handler: http.RequestListener): Promise<string> {
    const server = http.createServer(handler);
    const url = await listen(server);
    closers.push(async () => {
      server.closeAllConnections();
      await closeServer(server);
    });
    return url;
  }

  async function serve(mw: BalancerMiddleware, before: Middleware[] = [], setup?: (app: Koa) => void) {
    const app = new Koa();
    app.silent = true;
    setup?.(app);
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
    return { url, app, server };
  }
  return { upstream, serve };
}

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
