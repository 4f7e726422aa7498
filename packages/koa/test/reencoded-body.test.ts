/**
 * The send timeout (a client that stops reading a streamed response is closed after
 * idleTimeoutMs) and an upstream failing mid-body, through the Koa adapter with a downstream
 * middleware that re-encodes the body stream (koa-compress style: `body.pipe(gzip)`).
 */
import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';

import { closeServer, inflight, listen, waitFor } from '@ballast/testing';
import Koa, { type Middleware } from 'koa';

import { balancer } from '../src';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** koa-compress's way: `ctx.body = gzip; body.pipe(gzip)`. */
const gzip: Middleware = async (ctx, next) => {
  await next();
  const body = ctx.body as Readable | Buffer;
  const stream = createGzip();
  ctx.set('content-encoding', 'gzip');
  ctx.remove('content-length');
  ctx.body = stream;
  if (Buffer.isBuffer(body)) stream.end(body);
  else body.pipe(stream);
};

/** `/big`: 25 MiB of incompressible bytes as fast as they are read. `/broken`: 1 MiB, then a reset. */
function upstreamHandler(req: IncomingMessage, res: ServerResponse): void {
  const chunk = randomBytes(64 * 1024);
  if (req.url === '/broken') {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    for (let i = 0; i < 16; i++) res.write(chunk);
    setTimeout(() => res.socket?.destroy(), 100);
    return;
  }
  let n = 0;
  const pump = (): void => {
    while (n++ < 400) if (!res.write(chunk)) return void res.once('drain', pump);
    res.end();
  };
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  pump();
}

async function gateway(idleTimeoutMs: number) {
  const upstream = http.createServer(upstreamHandler);
  const upstreamUrl = await listen(upstream);
  closers.push(async () => {
    upstream.closeAllConnections();
    await closeServer(upstream);
  });
  const mw = balancer({ instances: [upstreamUrl] }, { healthCheck: false, idleTimeoutMs, retries: 0 });
  const app = new Koa();
  app.silent = true;
  app.use(gzip);
  app.use(mw);
  const handle = app.callback();
  const server = http.createServer((req, res) => void handle(req, res));
  // The gateway's side of each client connection: whether the proxy closed it.
  const sockets: net.Socket[] = [];
  server.on('connection', (s: net.Socket) => sockets.push(s));
  const url = await listen(server);
  closers.push(async () => {
    server.closeAllConnections();
    await closeServer(server);
    await mw.close();
  });
  return { url, mw, sockets };
}

function client(url: string, path: string, read: boolean): net.Socket {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  socket.on('error', () => {});
  socket.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
  if (read) socket.resume();
  else socket.pause();
  return socket;
}

test('Koa + a re-encoding middleware: a client that stopped reading is closed after idleTimeoutMs', async () => {
  const { url, mw, sockets } = await gateway(300);
  client(url, '/big', false);
  await waitFor(() => inflight(mw.balancer) === 1, { message: 'the response to start' });
  // The proxy gives up on the upstream body after 300 ms (the lease goes back)...
  await waitFor(() => inflight(mw.balancer) === 0, { timeoutMs: 3_000, message: 'the lease to be released' });
  expect(mw.balancer.snapshot().instances[0]!.failures).toBe(0);
  // ...and, as NGINX's send_timeout and the plain handler do, the client connection is closed.
  await waitFor(() => sockets.length === 1 && sockets[0]!.destroyed, {
    timeoutMs: 3_000,
    message: 'the stalled client connection to be closed',
  });
}, 15_000);

test('Koa + a re-encoding middleware: an upstream failing mid-body closes the client connection', async () => {
  const { url, mw, sockets } = await gateway(10_000);
  const socket = client(url, '/broken', true);
  let closed = false;
  socket.on('close', () => (closed = true));
  await waitFor(() => inflight(mw.balancer) === 0, { timeoutMs: 3_000, message: 'the lease to be released' });
  // "If the upstream fails after response headers were sent, the client connection is closed."
  await waitFor(() => closed && sockets[0]!.destroyed, {
    timeoutMs: 3_000,
    message: 'the client connection to be closed after the upstream failed',
  });
}, 15_000);
