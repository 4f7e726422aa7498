/**
 * A client's faults seen through the Express adapter: an upload that trickles gets 408 once
 * timeoutMs runs out, with the connection closed after the answer and no instance blamed; a
 * transfer coding other than chunked gets 400 (BALLAST_BAD_REQUEST), after a body parser too.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';

import {
  closeServer,
  gzipChunkedUpload,
  inflight,
  listen,
  rawRequest,
  recordBodies,
  trickle,
  waitFor,
} from '@ballast/testing';
import express, { type ErrorRequestHandler } from 'express';

import { balancer, type BalancerMiddleware } from '../src';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** An upstream that reads the whole body, then answers `ok`. */
async function readingUpstream(): Promise<string> {
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  const url = await listen(server);
  closers.push(() => closeServer(server));
  return url;
}

/** An upstream that records the bodies it gets and answers `ok`. */
async function recordingUpstream(bodies: Buffer[]): Promise<string> {
  const server = http.createServer(recordBodies(bodies));
  const url = await listen(server);
  closers.push(() => closeServer(server));
  return url;
}

async function serveApp(app: express.Express, mw: BalancerMiddleware): Promise<string> {
  const server = http.createServer(app);
  const url = await listen(server);
  closers.push(async () => {
    server.closeAllConnections();
    await closeServer(server);
    await mw.close();
  });
  return url;
}

describe('Express adapter: a client that trickles its upload', () => {
  test('a small upload of announced length that trickles gets 408 once timeoutMs runs out', async () => {
    const upstream = await readingUpstream();
    const mw = balancer({ instances: [upstream] }, { timeoutMs: 300, healthCheck: false });
    const app = express();
    app.use(mw);
    const url = await serveApp(app, mw);

    // 100 bytes announced, one every 50 ms: the whole body would take 5 s, timeoutMs is 300 ms.
    const result = await trickle(
      url,
      'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n',
      (b) => b,
      50,
      3_000,
    );
    expect(result.answer).toMatch(/^HTTP\/1\.1 408 /);
    await waitFor(() => inflight(mw.balancer) === 0, { message: 'the lease to be released' });
    expect(mw.balancer.snapshot().instances[0]!.failures).toBe(0);
  }, 15_000);

  test('onError -> next(err): the 408 the app answers mid-upload closes the connection', async () => {
    const upstream = await readingUpstream();
    const mw = balancer(
      { instances: [upstream] },
      { timeoutMs: 300, healthCheck: false, onError: (err, _req, _res, next) => next(err) },
    );
    const app = express();
    app.use(mw);
    // An application error handler that answers at once, as most do.
    const handler: ErrorRequestHandler = (err: { statusCode?: number }, _req, res, _next) => {
      res
        .status(err.statusCode ?? 500)
        .type('text')
        .send('handled');
    };
    app.use(handler);
    const url = await serveApp(app, mw);

    // A chunked upload that trickles for longer than the test waits.
    const result = await trickle(
      url,
      'POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n',
      (b) => `1\r\n${b}\r\n`,
      50,
      4_000,
    );
    expect(result.answer).toMatch(/^HTTP\/1\.1 408 /);
    // As the proxy's own answer does (closeIfUploading): Node reads no more of this request, so a
    // kept-alive connection would stall with the client's upload.
    expect(result.answer).toMatch(/\r\nConnection: close\r\n/i);
    expect(result.closedByServer).toBe(true);
    await waitFor(() => inflight(mw.balancer) === 0, { message: 'the lease to be released' });
  }, 15_000);
});

test.each([
  ['after express.raw()', true],
  ['with no body parser (the engine itself)', false],
])('a `gzip, chunked` upload gets 400 %s, and is not forwarded still coded', async (_case, parser) => {
  const bodies: Buffer[] = [];
  const upstream = await recordingUpstream(bodies);
  const mw = balancer({ instances: [upstream] }, { healthCheck: false });
  const app = express();
  if (parser) app.use(express.raw({ type: '*/*' }));
  app.use(mw);
  const url = await serveApp(app, mw);
  const answer = await rawRequest(url, gzipChunkedUpload('application/octet-stream'));
  expect(answer.slice(0, 12)).toBe('HTTP/1.1 400');
  expect(bodies).toEqual([]);
});
