/**
 * The re-sent-body path (a body parser ran first) writes the upstream head itself, in a promise
 * callback: a response another middleware answered meanwhile must not make it throw.
 */
import http from 'node:http';

import { closeServer, inflight, listen, request, waitFor } from '@ballast/testing';
import express from 'express';

import { balancer } from '../src';

test('re-sent body: a response another middleware answered meanwhile (connect-timeout style) does not become an unhandled rejection', async () => {
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  const upstream = http.createServer((req, res) => {
    req.resume();
    setTimeout(() => res.end('late'), 300);
  });
  const upstreamUrl = await listen(upstream);
  const mw = balancer({ instances: [upstreamUrl] }, { healthCheck: false });
  const app = express();
  app.use(express.json());
  // connect-timeout's pattern: answer 503 when the chain takes longer than 100 ms.
  app.use((_req, res, next) => {
    setTimeout(() => {
      if (!res.headersSent) res.status(503).type('text').send('timed out');
    }, 100);
    next();
  });
  app.use(mw);
  const server = http.createServer(app);
  const url = await listen(server);
  try {
    const res = await request(`${url}/x`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(res.status).toBe(503);
    await waitFor(() => inflight(mw.balancer) === 0, { message: 'the lease to be released' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    // On Node's default (--unhandled-rejections=throw), this one ends the gateway process.
    expect(rejections.map((r) => (r as { code?: string }).code)).toEqual([]);
  } finally {
    process.off('unhandledRejection', onRejection);
    server.closeAllConnections();
    await closeServer(server);
    await mw.close();
    upstream.closeAllConnections();
    await closeServer(upstream);
  }
}, 15_000);
