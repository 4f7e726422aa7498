import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBalancer, type BalancerEvents } from '@ballast/core';
import { createProxy } from '../src';
import { cleanup, gateway, inflight, listen, send } from './helpers';

afterEach(cleanup);

describe('responses without a body by their status', () => {
  it('relays a 304 that announces the Content-Length of the 200 (RFC 9110 §8.6) and counts it a success', async () => {
    // ASP.NET Core, Tornado, cowboy and Node itself send it; undici reads it as a truncated body.
    const upstream = await listen((_req, res) => {
      res.writeHead(304, { etag: '"v1"', 'content-length': '42' });
      res.end();
    });
    const balancer = createBalancer({ instances: [{ id: 'a', url: upstream.url }] });
    const outcomes: BalancerEvents['release']['outcome'][] = [];
    balancer.on('release', (event) => outcomes.push(event.outcome));
    for (const bufferResponseBytes of [65_536, 0]) {
      const { url, proxy } = await gateway(balancer, { retries: 0, bufferResponseBytes });
      const reply = await send(url, { path: '/page', headers: { 'if-none-match': '"v1"' } });
      expect(reply.status).toBe(304);
      expect(reply.headers.etag).toBe('"v1"');
      expect(reply.headers['content-length']).toBe('42');
      expect(reply.body.length).toBe(0);
      expect(inflight(proxy.balancer)).toBe(0);
    }
    expect(outcomes.map((o) => [o.ok, o.status, o.error])).toEqual([
      [true, 304, undefined],
      [true, 304, undefined],
    ]);
    balancer.close();
  });
});

describe('a request body read before the proxy', () => {
  it('answers 502 at once, sending nothing upstream, rather than waiting for a body that is gone', async () => {
    const upstream = await listen((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const proxy = createProxy({ instances: [upstream.url] }, { timeoutMs: 2_000, retries: 0 });
    // A body parser ahead of the proxy read the request to its end.
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => proxy(req, res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      // A small body (read whole before the first attempt) and a large one (streamed).
      for (const size of [5, 100_000]) {
        const started = Date.now();
        const reply = await send(url, { method: 'POST', body: Buffer.alloc(size, 1) });
        expect(reply.status).toBe(502);
        expect(Date.now() - started).toBeLessThan(1_000);
      }
      expect(upstream.received).toEqual([]);
      expect(inflight(proxy.balancer)).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await proxy.close();
    }
  });
});
