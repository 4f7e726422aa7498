import { createBalancer } from '@ballast/core';
import { failOnProcessErrors } from '@ballast/testing';
import { createProxy } from '../src';
import { cleanup, listen, until } from './helpers';

failOnProcessErrors();
afterEach(cleanup);

describe('what a probe sends', () => {
  it('GET on the instance base path + path with its query, Host of the instance URL', async () => {
    const seen: { method: string; url: string; host: string; ua: string }[] = [];
    const up = await listen((req, res) => {
      seen.push({
        method: req.method!,
        url: req.url!,
        host: req.headers.host!,
        ua: req.headers['user-agent']!,
      });
      res.end();
    });
    const proxy = createProxy(
      { instances: [{ id: 'x', url: `http://localhost:${up.port}/svc` }] },
      { healthCheck: { path: '/health?deep=1', intervalMs: 20 } },
    );
    try {
      await until(() => seen.length >= 1, 2_000, 'a probe');
      expect(seen[0]).toEqual({
        method: 'GET',
        url: '/svc/health?deep=1',
        host: `localhost:${up.port}`,
        ua: 'ballast-health-check',
      });
    } finally {
      await proxy.close();
    }
  });
});

describe('probes that are slow or endless', () => {
  it('headers slower than timeoutMs: a failure, and the probe connection is closed', async () => {
    let closed = 0;
    const up = await listen((req) => {
      req.socket.once('close', () => (closed += 1));
    });
    const balancer = createBalancer({ instances: [{ id: 'x', url: up.url }] });
    const reports: boolean[] = [];
    const original = balancer.reportCheck.bind(balancer);
    balancer.reportCheck = (id, ok) => (reports.push(ok), original(id, ok));
    const proxy = createProxy(balancer, {
      healthCheck: { intervalMs: 1_000, timeoutMs: 60, unhealthyThreshold: 1 },
    });
    try {
      await until(() => reports.length === 1, 3_000, 'a report');
      expect(reports).toEqual([false]);
      await until(() => closed === 1, 1_000, 'the timed-out probe socket to close');
    } finally {
      await proxy.close();
      balancer.close();
    }
  });

  it('a 200 whose body streams fast forever is not read forever: failed at timeoutMs, socket closed', async () => {
    let closed = 0;
    let written = 0;
    const chunk = Buffer.alloc(64 * 1024, 120);
    const up = await listen((req, res) => {
      req.socket.once('close', () => (closed += 1));
      res.writeHead(200);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) written += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const balancer = createBalancer({ instances: [{ id: 'x', url: up.url }] });
    const reports: boolean[] = [];
    const original = balancer.reportCheck.bind(balancer);
    balancer.reportCheck = (id, ok) => (reports.push(ok), original(id, ok));
    const proxy = createProxy(balancer, {
      healthCheck: { intervalMs: 5_000, timeoutMs: 150, unhealthyThreshold: 1 },
    });
    try {
      await until(() => reports.length === 1, 6_000, 'a report');
      expect(reports).toEqual([false]);
      await until(() => closed === 1, 1_000, 'the probe socket to close');
      const at = written;
      await new Promise((r) => setTimeout(r, 100));
      expect(written).toBe(at);
    } finally {
      await proxy.close();
      balancer.close();
    }
  });
});

describe('jitter', () => {
  it('spreads the first probes of many instances over the first interval', async () => {
    const start = Date.now();
    const first = new Map<string, number>();
    const up = await listen((req, res) => {
      const id = req.url!.split('/')[1]!;
      if (!first.has(id)) first.set(id, Date.now() - start);
      res.end();
    });
    const instances = Array.from({ length: 20 }, (_, i) => ({ id: `i${i}`, url: `${up.url}/i${i}` }));
    const proxy = createProxy({ instances }, { healthCheck: { intervalMs: 600, timeoutMs: 500 } });
    try {
      await until(() => first.size === 20, 3_000, 'a probe of each');
      const times = [...first.values()].sort((a, b) => a - b);
      expect(times[times.length - 1]! - times[0]!).toBeGreaterThan(300);
      // not in lockstep: no more than half of them in any 60 ms window
      for (const t of times) expect(times.filter((u) => u >= t && u < t + 60).length).toBeLessThanOrEqual(10);
    } finally {
      await proxy.close();
    }
  });
});
