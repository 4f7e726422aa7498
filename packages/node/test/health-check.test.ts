import { createBalancer, seededRandom } from '@ballast/core';
import { HealthChecker } from '../src/health-check';
import type { HealthCheckConfig } from '../src/options';
import type { Pools } from '../src/pools';
import { cleanup, gateway, listen, named, send, until } from './helpers';

afterEach(cleanup);

describe('active health checks against real servers', () => {
  it('take a failing instance out and bring it back', async () => {
    const a = await named('a');
    let bHealthy = true;
    const b = await listen((req, res) => {
      if (req.url === '/health') {
        res.statusCode = bHealthy ? 200 : 500;
        res.end();
      } else {
        res.end('b');
      }
    });
    const { url, proxy } = await gateway(
      {
        strategy: 'round-robin',
        instances: [
          { id: 'a', url: a.url },
          { id: 'b', url: b.url },
        ],
      },
      { healthCheck: { intervalMs: 30, timeoutMs: 500, unhealthyThreshold: 2, healthyThreshold: 2 } },
    );
    const probes = () => b.received.filter((r) => r.url === '/health').length;
    await until(() => probes() >= 2, 5_000, 'probes of b');
    expect(proxy.balancer.get('b')!.state).toBe('healthy');

    bHealthy = false;
    await until(() => proxy.balancer.get('b')!.state === 'unhealthy', 5_000, 'b to be taken out');
    const during = await Promise.all(Array.from({ length: 20 }, () => send(url)));
    expect(during.map((r) => r.text)).toEqual(Array(20).fill('a'));

    bHealthy = true;
    await until(
      () => ['healthy', 'slow-start'].includes(proxy.balancer.get('b')!.state),
      5_000,
      'b to return',
    );
    const after = await Promise.all(Array.from({ length: 20 }, () => send(url)));
    expect(after.map((r) => r.text)).toContain('b');
  });

  it('fails a probe that gets no answer in timeoutMs, and probes under the instance base path', async () => {
    const paths: string[] = [];
    const hanging = await listen((req) => {
      paths.push(req.url!);
      // Never answers.
    });
    const { proxy } = await gateway(
      { instances: [{ id: 'h', url: `${hanging.url}/svc/` }] },
      { healthCheck: { path: '/ready', intervalMs: 20, timeoutMs: 50, unhealthyThreshold: 2 } },
    );
    await until(() => proxy.balancer.get('h')!.state === 'unhealthy', 5_000, 'h to be taken out');
    expect(paths[0]).toBe('/svc/ready');
  });

  it('leaves no open handles after close', async () => {
    const upstreams = await Promise.all(['a', 'b', 'c'].map((name) => named(name)));
    const before = resources();
    const { url, proxy, server } = await gateway(
      { instances: upstreams.map((u) => u.url) },
      { healthCheck: { path: '/', intervalMs: 20 } },
    );
    await Promise.all(Array.from({ length: 30 }, () => send(url)));
    await until(() => upstreams.every((u) => u.received.length > 10), 5_000, 'probes');
    expect(resources().TCPSocketWrap ?? 0).toBeGreaterThan(before.TCPSocketWrap ?? 0);

    await new Promise((resolve) => {
      server.close(resolve);
      server.closeAllConnections();
    });
    await proxy.close();
    // The upstreams still run: any socket left to them, or any timer, would be the proxy's
    // (the upstreams' side of the sockets closes a moment later, with its keep-alive timers).
    await until(
      () => {
        const now = resources();
        return Object.keys(now).every((type) => (now[type] ?? 0) <= (before[type] ?? 0));
      },
      1_000,
      'every socket and timer of the proxy to be gone',
    );
  });
});

/** Counts of active resources by type (sockets, servers, timers). */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

/** Runs `fn` with Jest's fake timers, always restoring the real ones. */
async function withFakeTimers(fn: () => Promise<void> | void): Promise<void> {
  jest.useFakeTimers();
  try {
    await fn();
  } finally {
    jest.useRealTimers();
  }
}

describe('probe scheduling and thresholds (fake timers, a stub pool)', () => {
  const config: HealthCheckConfig = {
    path: '/health',
    intervalMs: 1_000,
    timeoutMs: 200,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
    expectStatus: (status) => status === 200,
  };

  function setup() {
    const balancer = createBalancer({ instances: [{ id: 'x', url: 'http://127.0.0.1:1' }] });
    const reports: boolean[] = [];
    const original = balancer.reportCheck.bind(balancer);
    balancer.reportCheck = (id, ok) => {
      reports.push(ok);
      original(id, ok);
    };
    let status = 200;
    const times: number[] = [];
    const pool = {
      dispatch: (_opts: unknown, handler: Record<string, (...args: unknown[]) => void>) => {
        times.push(Date.now());
        const controller = { abort() {}, pause() {}, resume() {} };
        handler.onRequestStart!(controller, {});
        handler.onResponseStart!(controller, status, {});
        handler.onResponseEnd!(controller, {});
        return true;
      },
    };
    const pools = { get: () => ({ pool, base: '' }) } as unknown as Pools;
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    const checker = new HealthChecker(balancer, pools, config, silent, seededRandom(7));
    return { balancer, checker, reports, times, setStatus: (s: number) => (status = s) };
  }

  it('probes with ±10 % jitter, reports by thresholds, and stops every timer on close', () =>
    withFakeTimers(async () => {
      const start = Date.now();
      const { balancer, checker, reports, times, setStatus } = setup();
      /** Advances the fake clock until `n` more probes have run. */
      const probes = async (n: number) => {
        const target = times.length + n;
        while (times.length < target) await jest.advanceTimersByTimeAsync(50);
      };
      await probes(11);
      expect(times[0]! - start).toBeLessThan(1_000);
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      for (const gap of gaps) {
        expect(gap).toBeGreaterThanOrEqual(900);
        expect(gap).toBeLessThanOrEqual(1_100);
      }
      expect(new Set(gaps).size).toBeGreaterThan(1); // jittered, not a fixed beat
      expect(reports).toEqual([]);

      setStatus(500);
      await probes(2);
      expect(reports).toEqual([]); // two failures: below the threshold of 3
      await probes(1);
      expect(reports).toEqual([false]);
      expect(balancer.get('x')!.state).toBe('unhealthy');
      await probes(2);
      expect(reports).toEqual([false]); // no repeated reports while it stays down

      setStatus(200);
      await probes(1);
      expect(reports).toEqual([false]); // one pass: below the threshold of 2
      await probes(1);
      expect(reports).toEqual([false, true]);
      expect(balancer.get('x')!.state).not.toBe('unhealthy');

      checker.close();
      expect(jest.getTimerCount()).toBe(0);
      const count = times.length;
      await jest.advanceTimersByTimeAsync(10_000);
      expect(times).toHaveLength(count);
      balancer.close();
    }));

  it('never runs a jittered interval near the longest timer at once (Node fires overlong timers after 1 ms)', () =>
    withFakeTimers(async () => {
      const balancer = createBalancer({ instances: [{ id: 'x', url: 'http://127.0.0.1:1' }] });
      let probes = 0;
      const pool = {
        dispatch: (_opts: unknown, handler: Record<string, (...args: unknown[]) => void>) => {
          probes += 1;
          const controller = { abort() {}, pause() {}, resume() {} };
          handler.onRequestStart!(controller, {});
          handler.onResponseStart!(controller, 200, {});
          handler.onResponseEnd!(controller, {});
          return true;
        },
      };
      const pools = { get: () => ({ pool, base: '' }) } as unknown as Pools;
      const silent = { debug() {}, info() {}, warn() {}, error() {} };
      // The first probe at once, then the longest jitter: 1.1 × intervalMs.
      const randoms = [0, 1];
      const longest = { ...config, intervalMs: 2_147_483_647 };
      const checker = new HealthChecker(balancer, pools, longest, silent, () => randoms.shift() ?? 1);
      await jest.advanceTimersByTimeAsync(0);
      expect(probes).toBe(1);
      await jest.advanceTimersByTimeAsync(1_000);
      expect(probes).toBe(1);
      checker.close();
      balancer.close();
    }));

  it('probes instances added later and forgets removed ones', () =>
    withFakeTimers(async () => {
      const { balancer, checker, times } = setup();
      balancer.add({ id: 'y', url: 'http://127.0.0.1:2' });
      await jest.advanceTimersByTimeAsync(1_000);
      expect(times).toHaveLength(2);
      balancer.remove('x');
      balancer.remove('y');
      expect(jest.getTimerCount()).toBe(0);
      checker.close();
      balancer.close();
    }));
});
