import { simulate, type RunResult } from '../src/engine';
import { EventQueue } from '../src/event-queue';
import { evaluate } from '../src/figures';
import { renderReport } from '../src/report';
import type { Scenario } from '../src/scenario';
import { runSuite } from '../src/suite';
import { lineup } from '../src/strategies';

/** Two seconds, three instances: one failing 30 % of requests, one joining late, one slow at times. */
const tiny: Scenario = {
  name: 'tiny',
  title: 'Tiny',
  description: 'A test scenario.',
  durationMs: 2_000,
  ratePerSec: (t) => (t < 1_000 ? 600 : 300),
  maxRatePerSec: 600,
  sizes: { kind: 'lognormal', sigma: 0.6 },
  servers: [
    { id: 'a', concurrency: 2, serviceMs: 10 },
    { id: 'b', concurrency: 2, serviceMs: 10, behaviour: () => ({ slowdown: 1, errorRate: 0.3 }) },
    {
      id: 'c',
      concurrency: 4,
      serviceMs: 10,
      joinAtMs: 500,
      behaviour: (t) => ({ slowdown: t < 1_500 ? 3 : 1, errorRate: 0 }),
    },
  ],
  seed: 7,
  join: { id: 'c', windowMs: 1_000, subWindows: 4 },
  phases: [{ label: 'first', fromMs: 0, toMs: 1_000 }],
};

function expectConserved(run: RunResult): void {
  expect(run.arrivals).toBe(run.completed + run.rejected);
  expect(run.instances.reduce((sum, i) => sum + i.picks, 0)).toBe(run.arrivals - run.rejected);
  expect(run.inflightAtEnd).toBe(0);
}

describe('simulate', () => {
  it.each(['power-of-two', 'peak-ewma', 'round-robin'] as const)(
    'gives the same result twice with %s',
    (strategy) => {
      const first = simulate({ scenario: tiny, strategy });
      const second = simulate({ scenario: tiny, strategy });
      expect(second).toEqual(first);
      expect(first.arrivals).toBeGreaterThan(600);
      expect(first.failed).toBeGreaterThan(0);
    },
  );

  it('conserves requests: every arrival completes or is rejected, and no lease stays open', () => {
    for (const strategy of ['power-of-two', 'least-connections', 'weighted-round-robin'] as const) {
      const run = simulate({ scenario: tiny, strategy });
      expectConserved(run);
      expect(run.rejected).toBe(0);
      // The late instance only counts after it joined, so its slices are filled.
      expect(run.join!.total.every((n) => n > 0)).toBe(true);
    }
  });

  it('counts picks refused with BALLAST_NO_INSTANCE as rejections', () => {
    // Nobody is in the pool until 500 ms: every earlier arrival is refused at once.
    const empty: Scenario = { ...tiny, servers: tiny.servers.map((s) => ({ ...s, joinAtMs: 500 })) };
    const run = simulate({ scenario: empty, strategy: 'power-of-two' });
    expect(run.rejected).toBeGreaterThan(200);
    expectConserved(run);
  });

  it('measures queueing plus service, not service alone', () => {
    const single: Scenario = {
      ...tiny,
      ratePerSec: () => 80,
      maxRatePerSec: 80,
      sizes: { kind: 'constant' },
      servers: [{ id: 'a', concurrency: 1, serviceMs: 10 }],
      join: undefined,
    };
    const run = simulate({ scenario: single, strategy: 'round-robin' });
    // 80 % busy: a request never beats its 10 ms of service, and some wait behind others.
    expect(run.latencies[0]).toBeCloseTo(10, 9);
    expect(run.latencies[run.latencies.length - 1]).toBeGreaterThan(20);
  });

  it('pools replications: counts add up, every latency sample is kept, leases stay conserved', () => {
    const [row] = runSuite([{ ...tiny, replications: 3 }], lineup()).scenarios[0]!.rows;
    const { run, replicas } = row!;
    expect(replicas).toHaveLength(3);
    // Different seeds, different workloads.
    expect(new Set(replicas.map((r) => r.arrivals)).size).toBe(3);
    expect(run.arrivals).toBe(replicas.reduce((n, r) => n + r.arrivals, 0));
    expect(run.latencies).toHaveLength(replicas.reduce((n, r) => n + r.latencies.length, 0));
    expect(run.latencies.every((x, i) => i === 0 || run.latencies[i - 1]! <= x)).toBe(true);
    expectConserved(run);
  });

  it('gives the same report twice', () => {
    const report = () => {
      const suite = runSuite([tiny], lineup());
      return renderReport(suite, evaluate(suite), { chart: 'chart.svg' });
    };
    const text = report();
    expect(report()).toBe(text);
    expect(text).toContain('### Tiny');
  });
});

describe('EventQueue', () => {
  it('pops by time, and equal times in the order they were pushed', () => {
    const queue = new EventQueue<string>();
    const times = [5, 1, 3, 1, 9, 3, 0, 5, 1];
    times.forEach((t, i) => queue.push(t, `${t}:${i}`));
    const out: string[] = [];
    for (let e = queue.pop(); e !== undefined; e = queue.pop()) out.push(e.value);
    expect(out).toEqual(['0:6', '1:1', '1:3', '1:8', '3:2', '3:5', '5:0', '5:7', '9:4']);
  });
});
