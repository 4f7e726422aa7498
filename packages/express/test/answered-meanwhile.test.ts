/**
 * A response that another middleware answers while the upstream is still working (connect-timeout,
 * a timeout handler): the upstream's late head must neither throw into the proxy nor count as the
 * instance's failure, and the upstream request is given up as soon as the response is over, as for
 * a client that went away.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';

import { closeServer, failOnProcessErrors, inflight, listen, request, waitFor } from '@ballast/testing';
import express, { type RequestHandler } from 'express';

import { balancer, type BalancerMiddleware } from '../src';

failOnProcessErrors();

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** An upstream that answers `body` after `delayMs`, and records whether the proxy gave up first. */
async function slowUpstream(delayMs: number, body: string) {
  const seen = { requests: 0, abandoned: 0 };
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.requests += 1;
    req.resume();
    const timer = setTimeout(() => res.end(body), delayMs);
    res.on('close', () => {
      if (!res.writableFinished) {
        seen.abandoned += 1;
        clearTimeout(timer);
      }
    });
  });
  const url = await listen(server);
  closers.push(async () => {
    server.closeAllConnections();
    await closeServer(server);
  });
  return { url, seen };
}

async function serve(mw: BalancerMiddleware, before: RequestHandler[]): Promise<string> {
  const app = express();
  app.use(express.json(), ...before, mw);
  const server = http.createServer(app);
  const url = await listen(server);
  closers.push(async () => {
    server.closeAllConnections();
    await closeServer(server);
    await mw.close();
  });
  return url;
}

/** connect-timeout's pattern: answer 503 when the chain takes longer than `ms`. */
const timeoutAfter =
  (ms: number): RequestHandler =>
  (_req, res, next) => {
    const timer = setTimeout(() => {
      if (!res.headersSent) res.status(503).type('text').send('timed out');
    }, ms);
    res.on('close', () => clearTimeout(timer));
    next();
  };

describe('a response another middleware answered while the upstream worked', () => {
  test.each([
    ['a streamed GET, small response (held until complete)', 'GET', 'late'],
    ['a streamed GET, large response (streamed)', 'GET', 'x'.repeat(200_000)],
    ['a re-sent JSON body', 'POST', 'late'],
  ])(
    '%s: no failure held against the instance, the upstream request given up',
    async (_label, method, body) => {
      const upstream = await slowUpstream(1_500, body);
      const mw = balancer({ instances: [upstream.url] }, { healthCheck: false, retries: 0 });
      const url = await serve(mw, [timeoutAfter(100)]);

      const started = Date.now();
      const res = await request(`${url}/x`, {
        method,
        headers: method === 'POST' ? { 'content-type': 'application/json' } : undefined,
        body: method === 'POST' ? '{"a":1}' : undefined,
      });
      expect(res.status).toBe(503);
      expect(res.text).toBe('timed out');
      // The lease is freed with the response, not when the upstream gets round to answering.
      await waitFor(() => inflight(mw.balancer) === 0, { message: 'the lease to be released' });
      expect(Date.now() - started).toBeLessThan(1_000);
      await waitFor(() => upstream.seen.abandoned === 1, { message: 'the upstream request to be given up' });
      const [instance] = mw.balancer.snapshot().instances;
      expect(instance!.failures).toBe(0);
      expect(instance!.health).toBe(1);
    },
  );

  /** A long-poll style answer that starts at 50 ms and ends at 400 ms, whatever the upstream does. */
  const progress: RequestHandler = (_req, res, next) => {
    setTimeout(() => {
      res.writeHead(202, { 'content-type': 'text/plain' });
      res.write('working');
    }, 50);
    setTimeout(() => res.end(' done'), 400);
    next();
  };

  test.each([
    ['small (held until complete)', 'late'],
    ['large (streamed)', 'x'.repeat(200_000)],
  ])(
    'a head another middleware already wrote (still streaming its body): a late %s upstream answer is dropped',
    async (_label, body) => {
      const upstream = await slowUpstream(150, body);
      const mw = balancer({ instances: [upstream.url] }, { healthCheck: false, retries: 0 });
      const url = await serve(mw, [progress]);

      const res = await request(`${url}/x`);
      expect(res.status).toBe(202);
      expect(res.text).toBe('working done');
      await waitFor(() => inflight(mw.balancer) === 0, { message: 'the lease to be released' });
      const [instance] = mw.balancer.snapshot().instances;
      expect(instance!.failures).toBe(0);
    },
  );

  test.each([
    ['without onError', undefined],
    ['with an onError that calls next(err)', 'next'],
  ])(
    'a head another middleware already wrote, then the upstream fails (%s): its response is not cut',
    async (_label, hook) => {
      // An upstream that drops the connection after 150 ms, without an answer.
      const server = http.createServer((req) => {
        req.resume();
        setTimeout(() => req.socket.destroy(), 150);
      });
      const upstreamUrl = await listen(server);
      closers.push(async () => {
        server.closeAllConnections();
        await closeServer(server);
      });
      const mw = balancer(
        { instances: [upstreamUrl] },
        {
          healthCheck: false,
          retries: 0,
          onError: hook === undefined ? undefined : (err, _req, _res, next) => next(err),
        },
      );
      const url = await serve(mw, [progress]);

      const res = await request(`${url}/x`);
      expect(res.status).toBe(202);
      expect(res.text).toBe('working done');
      await waitFor(() => inflight(mw.balancer) === 0, { message: 'the lease to be released' });
      // The upstream did fail: that outcome stands.
      expect(mw.balancer.snapshot().instances[0]!.failures).toBe(1);
    },
  );
});
