import http, { type IncomingMessage } from 'node:http';
import type { Strategy } from '@ballast/core';
import { cleanup, gateway, inflight, listen, named, send } from './helpers';

afterEach(cleanup);
const first: Strategy = { name: 'first', pick: (candidates) => candidates[0] };

function resetter() {
  return listen((req) => {
    req.resume();
    req.on('end', () => req.socket.destroy());
  });
}

describe('retry budget, onError, replay and the idle timeout', () => {
  it('a retry storm is capped at ratio × requests + reserve, and retries resume once the window slides', async () => {
    const a = await resetter();
    const b = await named('b');
    let retries = 0;
    const logger = {
      debug: (_o: object, msg?: string) => {
        if (msg === 'ballast: retrying on another instance') retries += 1;
      },
    };
    let offset = 0;
    const realNow = performance.now.bind(performance);
    const spy = jest.spyOn(performance, 'now').mockImplementation(() => realNow() + offset);
    try {
      const { url, proxy } = await gateway(
        {
          strategy: first,
          instances: [a.url, b.url],
          health: { outlier: false, threshold: 0, slowStart: false },
        },
        { logger: logger as never, retryBudget: { ratio: 0.2, minRetriesPerSecond: 1 } },
      );
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++) statuses.push((await send(url)).status);
      // reserve 10 + 0.2 × 60 = 22 at most
      expect(retries).toBeLessThanOrEqual(22);
      expect(statuses.filter((s) => s === 502).length).toBeGreaterThan(0);
      offset += 11_000;
      const before = retries;
      expect((await send(url)).status).toBe(200);
      expect(retries).toBe(before + 1);
      expect(inflight(proxy.balancer)).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });

  it('an async onError that rejects does not become an unhandled rejection, and the client gets an answer', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      const { url } = await gateway(
        { strategy: first, instances: [] },
        {
          onError: (async () => {
            throw new Error('boom');
          }) as never,
        },
      );
      const reply = await Promise.race([
        send(url).then((r) => r.status),
        new Promise((r) => setTimeout(() => r('no answer'), 1000)),
      ]);
      await new Promise((r) => setTimeout(r, 50));
      expect({ reply, rejections: rejections.length }).toEqual({ reply: 503, rejections: 0 });
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });

  it('replays a small chunked (no Content-Length) PUT body after a reset, byte-identical', async () => {
    const a = await resetter();
    const got: string[] = [];
    const b = await listen((req: IncomingMessage, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        got.push(text);
        res.end('ok');
      });
    });
    const { url, proxy } = await gateway({ strategy: first, instances: [a.url, b.url] });
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${url}/c`, { method: 'PUT', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.write('hello ');
      setTimeout(() => req.end('world'), 20);
    });
    expect(status).toBe(200);
    expect(got).toEqual(['hello world']);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('idleTimeoutMs is honoured with its own precision: a 200 ms stall in the body gives up well before 1 s', async () => {
    const a = await listen((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': '10' });
      res.write('abc');
    });
    const { url } = await gateway({ strategy: first, instances: [a.url] }, { idleTimeoutMs: 200 });
    const t0 = Date.now();
    const reply = await send(url, { method: 'POST', body: 'x' });
    const took = Date.now() - t0;
    expect(reply.status).toBe(504);
    expect(took).toBeLessThan(700);
  });
});
