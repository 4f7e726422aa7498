/**
 * Membership changes in bulk on a large pool must not cost O(pool) each (quadratic in all).
 * Measured by loop counts, not time: elements visited by Array.prototype.filter (the member list
 * is filtered after removals) and reads of `state` on the members (every pool rebuild reads it).
 * A single remove() rebuilds the pool at once, O(pool), to announce a panic it starts or ends.
 */
import { createBalancer, type Balancer, type DiscoverySink, type InstanceConfig } from '../src';

const N = 20_000;
const url = (i: number) => `http://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:80`;
const spec = (i: number): InstanceConfig & { id: string } => ({ id: `i${i}`, url: url(i) });

/** Counts element visits of Array.prototype.filter and `state` reads of the balancer's members while `fn` runs. */
function count(balancer: Balancer, fn: () => void): number {
  let work = 0;
  for (const m of balancer.instances()) {
    let state = m.state;
    Object.defineProperty(m, 'state', {
      configurable: true,
      get: () => ((work += 1), state),
      set: (v) => (state = v),
    });
  }
  const filter = Array.prototype.filter;
  Array.prototype.filter = function (this: unknown[], ...args: unknown[]) {
    work += this.length;
    return filter.apply(this, args as never);
  } as typeof filter;
  try {
    fn();
  } finally {
    Array.prototype.filter = filter;
  }
  return work;
}

describe('membership changes on a pool of 20 000', () => {
  it('a discovery list that drops half the pool costs O(pool), not O(removed × pool)', () => {
    let sink!: DiscoverySink;
    const balancer = createBalancer({
      strategy: 'round-robin',
      discovery: { name: 'test', subscribe: (s) => ((sink = s), () => {}) },
    });
    sink.update(Array.from({ length: N }, (_, i) => spec(i)));
    expect(balancer.instances()).toHaveLength(N);
    const work = count(balancer, () => sink.update(Array.from({ length: N / 2 }, (_, i) => spec(i))));
    expect(balancer.instances()).toHaveLength(N / 2);
    // Linear work is a few passes over the pool; removing one at a time with a full filter is N²/... .
    expect(work).toBeLessThan(50 * N);
  });

  it('add() of 20 000 instances one by one stays linear', () => {
    const balancer = createBalancer({ strategy: 'round-robin', instances: [spec(0)] });
    balancer.pick().release({ ok: true, latencyMs: 1 });
    const work = count(balancer, () => {
      for (let i = 1; i < N; i++) balancer.add(spec(i));
    });
    expect(balancer.instances()).toHaveLength(N);
    expect(work).toBeLessThan(50 * N);
  });
});
