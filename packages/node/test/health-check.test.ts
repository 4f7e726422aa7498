import { createBalancer, seededRandom, type Balancer } from '@ballast/core';
import { HealthChecker } from '../src/health-check';
import type { HealthCheckConfig } from '../src/options';
import type { Pools } from '../src/pools';
import { activeHandles, expectNoHandlesBeyond, failOnProcessErrors } from '@ballast/testing';
import { createProxy } from '../src';
import { cleanup, gateway, listen, named, send, until } from './helpers';

failOnProcessErrors();

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

/** A stub of the proxy's pools: every probe is answered `status()` at once; `onProbe` sees each. */
function stubPools(status: () => number, onProbe: () => void = () => undefined): Pools {
  const pool = {
    dispatch: (_opts: unknown, handler: Record<string, (...args: unknown[]) => void>) => {
      onProbe();
      const controller = { abort() {}, pause() {}, resume() {} };
      handler.onRequestStart!(controller, {});
      handler.onResponseStart!(controller, status(), {});
      handler.onResponseEnd!(controller, {});
      return true;
    },
  };
  return { get: () => ({ pool, base: '' }) } as unknown as Pools;
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
    const pools = stubPools(
      () => status,
      () => times.push(Date.now()),
    );
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
      const pools = stubPools(
        () => 200,
        () => (probes += 1),
      );
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

describe('a passing active check ends a low-score exclusion (README: "as Envoy does")', () => {
  it('brings back an instance that its failed requests scored out, while its health endpoint passes', async () => {
    // Answers its health endpoint, fails everything else.
    const flaky = await listen((req, res) => {
      res.statusCode = req.url === '/health' ? 200 : 500;
      res.end();
    });
    const steady = await listen((_req, res) => res.end('steady'));
    const { proxy } = await gateway(
      {
        strategy: 'round-robin',
        instances: [
          { id: 'flaky', url: flaky.url },
          { id: 'steady', url: steady.url },
        ],
        // No ejection, and an idle recovery far too slow to bring it back within the test: only
        // a passing check can.
        health: { slowStart: false, outlier: false, recoveryHalfLifeMs: 600_000 },
      },
      { healthCheck: { intervalMs: 50, timeoutMs: 500, healthyThreshold: 2 } },
    );
    const balancer = proxy.balancer;
    for (let i = 0; i < 20 && balancer.get('flaky')!.state !== 'unhealthy'; i++)
      balancer.pick({ exclude: ['steady'] }).release({ ok: false, latencyMs: 1 });
    expect(balancer.get('flaky')!.state).toBe('unhealthy');

    await until(() => balancer.get('flaky')!.state === 'healthy', 3_000, 'flaky back on its passing checks');
    expect(balancer.get('flaky')!.health).toBe(1);
  });
});

describe('probes that are slow, stuck or cut short', () => {
  it('fails a probe whose 200 comes with a body that never ends, and frees its socket', async () => {
    let closed = 0;
    const trickle = await listen((req, res) => {
      req.socket.on('close', () => (closed += 1));
      res.writeHead(200, { 'content-length': '1000000' });
      const timer = setInterval(() => res.write('x'), 20);
      res.on('close', () => clearInterval(timer));
    });
    const { proxy } = await gateway(
      { instances: [{ id: 't', url: trickle.url }] },
      { healthCheck: { intervalMs: 50, timeoutMs: 150, unhealthyThreshold: 1 } },
    );
    await until(() => proxy.balancer.get('t')!.state === 'unhealthy', 3_000, 't to be taken out');
    await until(() => closed >= 1, 2_000, 'the probe socket to close');
  });

  it('never starts a probe while the last one still runs, however slower than intervalMs it is', async () => {
    let running = 0;
    let most = 0;
    const slow = await listen((_req, res) => {
      running += 1;
      most = Math.max(most, running);
      setTimeout(() => {
        running -= 1;
        res.end();
      }, 120);
    });
    const { proxy } = await gateway(
      { instances: [{ id: 's', url: slow.url }] },
      { healthCheck: { intervalMs: 20, timeoutMs: 1_000 } },
    );
    await until(() => slow.received.length >= 4, 5_000, 'four probes');
    expect(most).toBe(1);
    expect(proxy.balancer.get('s')!.state).toBe('healthy');
  });

  it('close() in the middle of a probe that gets no answer leaves no socket or timer', async () => {
    const silent = await listen(() => {
      // Accepts, never answers.
    });
    const before = activeHandles();
    const proxy = createProxy(
      { instances: [{ id: 'q', url: silent.url }] },
      { healthCheck: { intervalMs: 20, timeoutMs: 5_000 } },
    );
    await until(() => silent.received.length >= 1, 2_000, 'a probe in flight');
    await proxy.close();
    await silent.kill();
    await expectNoHandlesBeyond(before);
  });
});

describe('a verdict whose report stops the checker schedules no further probe', () => {
  const config: HealthCheckConfig = {
    path: '/health',
    intervalMs: 1_000,
    timeoutMs: 200,
    healthyThreshold: 1,
    unhealthyThreshold: 1,
    expectStatus: (status) => status === 200,
  };
  const silent = { debug() {}, info() {}, warn() {}, error() {} };

  /** A checker over one instance whose stub pool answers every probe 500 at once. */
  function failingChecker(): { balancer: Balancer; checker: HealthChecker; probes: () => number } {
    const balancer = createBalancer({ instances: [{ id: 'x', url: 'http://127.0.0.1:1' }] });
    let probes = 0;
    const pools = stubPools(
      () => 500,
      () => (probes += 1),
    );
    const checker = new HealthChecker(balancer, pools, config, silent, seededRandom(3));
    return { balancer, checker, probes: () => probes };
  }

  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('close() from a health-change listener leaves no timer behind', async () => {
    const { balancer, checker, probes } = failingChecker();
    balancer.on('health-change', () => checker.close());
    await jest.advanceTimersByTimeAsync(1_000);
    expect(probes()).toBe(1);
    expect(balancer.get('x')!.state).toBe('unhealthy');
    expect(jest.getTimerCount()).toBe(0);
    balancer.close();
  });

  it('removing the instance from a health-change listener leaves no timer behind', async () => {
    const { balancer, checker, probes } = failingChecker();
    balancer.on('health-change', (event) => {
      if (event.to === 'unhealthy') balancer.remove(event.instance.id);
    });
    await jest.advanceTimersByTimeAsync(1_000);
    expect(probes()).toBe(1);
    expect(balancer.get('x')).toBeUndefined();
    expect(jest.getTimerCount()).toBe(0);
    checker.close();
    balancer.close();
  });
});
