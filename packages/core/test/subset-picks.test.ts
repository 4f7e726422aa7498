/**
 * Picks from a subset of the pool: a retry's `ctx.exclude` and a `ctx.match`. Each is served by
 * the strategy's own rule over exactly those candidates, without bias, and leaves the pool's
 * own schedule undisturbed.
 */
import type { Lease } from '../src';
import { pool, shares, testBalancer } from './helpers';

describe('retries with ctx.exclude', () => {
  it('round-robin: retries off an instance spread over the others instead of starving one', () => {
    // Every request that lands on i0 is retried elsewhere (e.g. i0 answered a retryable 503;
    // the first lease is released ok so that health does not interfere).
    const { balancer } = testBalancer({ strategy: 'round-robin', instances: pool(3) });
    const served: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const first = balancer.pick();
      first.release({ ok: true, latencyMs: 1 });
      if (first.instance.id !== 'i0') {
        served.push(first.instance.id);
        continue;
      }
      const retry = balancer.pick({ exclude: ['i0'], retry: true });
      served.push(retry.instance.id);
      retry.release({ ok: true, latencyMs: 1 });
    }
    // i1 and i2 are interchangeable: each should serve half of the requests (±5 points).
    const s = shares(served);
    expect(s.i1 ?? 0).toBeGreaterThan(45);
    expect(s.i2 ?? 0).toBeGreaterThan(45);
  });

  it.each(['power-of-two', 'peak-ewma'] as const)(
    '%s: with the excluded instance busy, the retry goes to the idle remaining instance, not the busy one',
    (strategy) => {
      const { balancer } = testBalancer({
        strategy,
        instances: [
          { id: 'a', url: 'http://a.test' },
          { id: 'b', url: 'http://b.test' },
          { id: 'c', url: 'http://c.test' },
        ],
      });
      const held: Lease[] = [];
      // a: 3 in flight, c: 1 in flight, b: idle (steered with exclude, which is exact when only one is left).
      for (let i = 0; i < 3; i++) held.push(balancer.pick({ exclude: ['b', 'c'] }));
      held.push(balancer.pick({ exclude: ['a', 'b'] }));
      expect([balancer.get('a')!.inflight, balancer.get('b')!.inflight, balancer.get('c')!.inflight]).toEqual(
        [3, 0, 1],
      );
      // A retry excluding a has two candidates, b (load 1) and c (load 2): the two choices are
      // always b and c, so b must win every time. Tolerance: c below 1 %.
      const ids: string[] = [];
      for (let i = 0; i < 30_000; i++) {
        const lease = balancer.pick({ exclude: ['a'], retry: true });
        ids.push(lease.instance.id);
        lease.release({ ok: true, latencyMs: 30 });
      }
      expect(shares(ids).c ?? 0).toBeLessThan(1);
      for (const lease of held) lease.release({ ok: true, latencyMs: 30 });
      expect(balancer.instances().map((m) => m.inflight)).toEqual([0, 0, 0]);
    },
  );
});

const instances = [
  { id: 'a', url: 'http://a.test', zone: 'z0' },
  { id: 'b', url: 'http://b.test', zone: 'z1' },
  { id: 'c', url: 'http://c.test', zone: 'z1' },
  { id: 'd', url: 'http://d.test', zone: 'z2' },
];

function interleave(strategy: 'round-robin' | 'weighted-round-robin') {
  const { balancer } = testBalancer({ strategy, instances });
  const main: string[] = [];
  const zoned: string[] = [];
  for (let i = 0; i < 4000; i++) {
    const lease = balancer.pick();
    main.push(lease.instance.id);
    lease.release({ ok: true, latencyMs: 1 });
    const matched = balancer.pick({ match: { zone: 'z1' } });
    zoned.push(matched.instance.id);
    matched.release({ ok: true, latencyMs: 1 });
  }
  return { main: shares(main), zoned: shares(zoned) };
}

describe('ctx.match interleaved with unmatched picks', () => {
  it('round-robin: unmatched picks still rotate over all four, matched ones over b and c', () => {
    const { main, zoned } = interleave('round-robin');
    // Equal instances in turn: 25 % each of the unmatched picks, 50 % each of the matched (±5 points).
    for (const id of ['a', 'b', 'c', 'd'])
      expect([id, Math.abs((main[id] ?? 0) - 25) < 5]).toEqual([id, true]);
    for (const id of ['b', 'c']) expect([id, Math.abs((zoned[id] ?? 0) - 50) < 5]).toEqual([id, true]);
  });

  it('weighted-round-robin: the matched picks share two equal-weight instances evenly', () => {
    const { main, zoned } = interleave('weighted-round-robin');
    // Smooth WRR over b and c (weight 1 each) alternates them: 50 % each (±5 points);
    // the unmatched picks, over four equal weights, 25 % each.
    for (const id of ['b', 'c']) expect([id, Math.abs((zoned[id] ?? 0) - 50) < 5]).toEqual([id, true]);
    for (const id of ['a', 'b', 'c', 'd'])
      expect([id, Math.abs((main[id] ?? 0) - 25) < 5]).toEqual([id, true]);
  });
});
