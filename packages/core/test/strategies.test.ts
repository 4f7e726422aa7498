import { createBalancer, seededRandom, STRATEGY_NAMES, type Instance } from '../src';
import { reduce } from '../src/internal/hash';
import { manualClock, pool, sequence, shares, testBalancer } from './helpers';

const PICKS = 100_000;
/** Envoy's tolerance for distribution tests: one percentage point. */
const TOLERANCE_PP = 1;

function expectShares(actual: Record<string, number>, expected: Record<string, number>): void {
  for (const [id, share] of Object.entries(expected)) {
    expect(Math.abs((actual[id] ?? 0) - share)).toBeLessThanOrEqual(TOLERANCE_PP);
  }
}

describe('round-robin', () => {
  it('takes each instance in turn', () => {
    const { balancer } = testBalancer({ strategy: 'round-robin', instances: pool(3) });
    expect(sequence(balancer, 7)).toEqual(['i0', 'i1', 'i2', 'i0', 'i1', 'i2', 'i0']);
  });

  it('keeps turning when the pool shrinks', () => {
    const { balancer } = testBalancer({ strategy: 'round-robin', instances: pool(3) });
    sequence(balancer, 2);
    balancer.remove('i2');
    expect(sequence(balancer, 4)).toEqual(['i0', 'i1', 'i0', 'i1']);
  });
});

describe('weighted-round-robin', () => {
  it('gives NGINX smooth WRR order for weights 5, 1, 1', () => {
    const { balancer } = testBalancer({
      strategy: 'weighted-round-robin',
      instances: [
        { id: 'a', url: 'http://a.test', weight: 5 },
        { id: 'b', url: 'http://b.test', weight: 1 },
        { id: 'c', url: 'http://c.test', weight: 1 },
      ],
    });
    const period = ['a', 'a', 'b', 'a', 'c', 'a', 'a'];
    expect(sequence(balancer, 21)).toEqual([...period, ...period, ...period]);
  });

  it.each([
    ['smooth WRR', 8, 4],
    ['EDF over weight classes', 200, 4],
    ['EDF heap', 200, 12],
  ])(
    'gives every instance exactly its weight in every window of Σweights picks (%s, %i instances, %i weights)',
    (_name, n, distinct) => {
      const weight = (i: number) => 1 + (i % distinct);
      const { balancer } = testBalancer({ strategy: 'weighted-round-robin', instances: pool(n, weight) });
      const total = Array.from({ length: n }, (_, i) => weight(i)).reduce((a, b) => a + b, 0);
      const ids = sequence(balancer, total * 3);
      for (let start = 0; start + total <= ids.length; start += Math.max(1, Math.floor(total / 7))) {
        const counts = new Map<string, number>();
        for (const id of ids.slice(start, start + total)) counts.set(id, (counts.get(id) ?? 0) + 1);
        for (let i = 0; i < n; i++) expect([start, counts.get(`i${i}`)]).toEqual([start, weight(i)]);
      }
    },
  );

  describe.each([
    ['EDF over weight classes', 4],
    ['EDF heap', 12],
  ])('when the pool is rebuilt (%s)', (_name, distinct) => {
    const weight = (i: number) => 1 + (i % distinct);
    const n = 60;
    const total = Array.from({ length: n }, (_, i) => weight(i)).reduce((a, b) => a + b, 0);
    const wrr = () =>
      testBalancer({
        strategy: 'weighted-round-robin',
        instances: pool(n, weight),
        health: { slowStart: false },
      }).balancer;

    it('by a change that leaves weights and members alone, the schedule goes on where it was', () => {
      const quiet = sequence(wrr(), total * 3);
      const churned = wrr();
      const ids: string[] = [];
      for (let i = 0; i < total * 3; i++) {
        // Every 37 picks another instance's metadata changes, which rebuilds the pool.
        if (i % 37 === 0) churned.update('i7', { metadata: { revision: String(i) } });
        ids.push(...sequence(churned, 1));
      }
      expect(ids).toEqual(quiet);
    });

    it('by another instance flapping faster than a period: the light instances still get their turns', () => {
      const balancer = wrr();
      const ids: string[] = [];
      for (let i = 0; i < total * 4; i++) {
        if (i % 50 === 0) balancer.reportCheck('i5', false);
        if (i % 50 === 25) balancer.reportCheck('i5', true);
        ids.push(...sequence(balancer, 1));
      }
      const counts = new Map<string, number>();
      for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
      // i5 is out half the time and the others share its turns: each at least its weight per period.
      for (let i = 0; i < n; i++)
        if (i !== 5) expect(counts.get(`i${i}`) ?? 0).toBeGreaterThanOrEqual(weight(i) * 4);
    });

    it('by an instance leaving and coming back: it starts at the present, no burst, nobody starved', () => {
      const balancer = wrr();
      sequence(balancer, Math.floor(total / 3));
      balancer.reportCheck('i5', false);
      sequence(balancer, total * 2);
      balancer.reportCheck('i5', true);
      // Every window of Σweights picks from the return on: each instance its weight, give or take
      // the one turn the return moved.
      const ids = sequence(balancer, total * 2);
      for (let start = 0; start + total <= ids.length; start += Math.floor(total / 5)) {
        const counts = new Map<string, number>();
        for (const id of ids.slice(start, start + total)) counts.set(id, (counts.get(id) ?? 0) + 1);
        for (let i = 0; i < n; i++) {
          expect(Math.abs((counts.get(`i${i}`) ?? 0) - weight(i))).toBeLessThanOrEqual(1);
        }
      }
    });
  });

  it('serves a large pool of equal weights in pool order, and follows a weight update', () => {
    const { balancer } = testBalancer({ strategy: 'weighted-round-robin', instances: pool(100) });
    const order = Array.from({ length: 100 }, (_, i) => `i${i}`);
    expect(sequence(balancer, 250)).toEqual([...order, ...order, ...order.slice(0, 50)]);
    balancer.update('i0', { weight: 101 });
    // Σweights = 200: i0 takes 101 of every 200 picks, each other instance one.
    const counts = new Map<string, number>();
    for (const id of sequence(balancer, 400)) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect(counts.get('i0')).toBe(202);
    expect(order.slice(1).every((id) => counts.get(id) === 2)).toBe(true);
  });

  it('honours non-integer weights in proportion', () => {
    const weights = [0.5, 1.5, 2.25];
    const { balancer } = testBalancer({
      strategy: 'weighted-round-robin',
      instances: pool(3, (i) => weights[i]!),
    });
    const result = shares(sequence(balancer, 4.25 * 4000));
    expect(result.i0).toBeCloseTo((100 * 0.5) / 4.25, 1);
    expect(result.i1).toBeCloseTo((100 * 1.5) / 4.25, 1);
    expect(result.i2).toBeCloseTo((100 * 2.25) / 4.25, 1);
  });

  it('follows a weight change at once', () => {
    const { balancer } = testBalancer({ strategy: 'weighted-round-robin', instances: pool(2) });
    balancer.update('i0', { weight: 3 });
    const ids = sequence(balancer, 400);
    expect(shares(ids).i0).toBeCloseTo(75, 0);
  });
});

describe('least-connections', () => {
  it('spreads a burst over an idle pool instead of herding onto the first instance', () => {
    const { balancer } = testBalancer({ strategy: 'least-connections', instances: pool(4) });
    const leases = Array.from({ length: 4 }, () => balancer.pick());
    expect(new Set(leases.map((l) => l.instance.id)).size).toBe(4);
  });

  it('picks the fewest in-flight per unit of weight', () => {
    const { balancer } = testBalancer({
      strategy: 'least-connections',
      instances: pool(3, (i) => (i === 2 ? 3 : 1)),
    });
    // Load (in-flight + 1) / weight: i2 takes three before the others take a second.
    const ids = Array.from({ length: 5 }, () => balancer.pick().instance.id);
    expect(ids.filter((id) => id === 'i2')).toHaveLength(3);
    expect(ids.slice().sort()).toEqual(['i0', 'i1', 'i2', 'i2', 'i2']);
  });

  it('goes back to the instance that finished its work', () => {
    const { balancer } = testBalancer({ strategy: 'least-connections', instances: pool(3) });
    const leases = Array.from({ length: 3 }, () => balancer.pick());
    leases[1]!.release({ ok: true });
    expect(balancer.pick().instance.id).toBe(leases[1]!.instance.id);
  });

  // Up to 8 distinct weights use load buckets per weight, more a heap: all must pick the least loaded.
  it.each([
    ['equal weights', () => 1],
    ['4 distinct weights', (i: number) => 1 + (i % 4)],
    ['12 distinct weights', (i: number) => 0.5 + (i % 12) / 4],
  ])('keeps its index right on a large pool under random holds and releases (%s)', (_, weight) => {
    const random = seededRandom(7);
    const { balancer } = testBalancer({ strategy: 'least-connections', instances: pool(300, weight) });
    const held: ReturnType<typeof balancer.pick>[] = [];
    const load = (m: Instance, extra: number) => (m.inflight + extra + 1) / m.effectiveWeight;
    for (let step = 0; step < 5_000; step++) {
      if (held.length > 0 && random() < 0.45) {
        held.splice(Math.floor(random() * held.length), 1)[0]!.release({ ok: true, latencyMs: 1 });
      } else {
        const lease = balancer.pick();
        // The chosen instance had the least load before this pick.
        const least = Math.min(...balancer.instances().map((m) => load(m, m === lease.instance ? -1 : 0)));
        expect(load(lease.instance, -1)).toBe(least);
        held.push(lease);
      }
    }
    for (const lease of held) lease.release({ ok: true });
    expect(balancer.instances().every((m) => m.inflight === 0)).toBe(true);
  });

  it('rotates ties on a large idle pool: every instance once before any twice', () => {
    const { balancer } = testBalancer({ strategy: 'least-connections', instances: pool(50) });
    const ids = Array.from({ length: 150 }, () => {
      const lease = balancer.pick();
      lease.release({ ok: true });
      return lease.instance.id;
    });
    for (let round = 0; round < 3; round++)
      expect(new Set(ids.slice(round * 50, round * 50 + 50)).size).toBe(50);
  });

  it('follows a weight update that makes the pool unequal, and back', () => {
    const { balancer } = testBalancer({ strategy: 'least-connections', instances: pool(3) });
    const first = balancer.pick();
    balancer.update('i2', { weight: 3 });
    // (0 + 1) / 3 for i2 against (0 + 1) / 1 for the idle one and (1 + 1) / 1 for the busy one.
    const ids = Array.from({ length: 3 }, () => balancer.pick().instance.id);
    expect(ids).toEqual(['i2', 'i2', first.instance.id === 'i0' ? 'i1' : 'i0']);
    balancer.update('i2', { weight: 1 });
    // Now i2 holds 2, the other idle one 1, the first 1: the next goes to one of those with 1.
    expect(balancer.pick().instance.id).not.toBe('i2');
  });
});

describe('power-of-two', () => {
  it('with two distinct candidates, shares three instances 50/50/0 when one is busy', () => {
    const { balancer } = testBalancer({ strategy: 'power-of-two', instances: pool(3) });
    // Hold a lease on i2 only.
    let busy = balancer.pick();
    while (busy.instance.id !== 'i2') {
      busy.release({ ok: true });
      busy = balancer.pick();
    }
    expectShares(shares(sequence(balancer, PICKS)), { i0: 50, i1: 50, i2: 0 });
    busy.release({ ok: true });
  });

  it('draws both candidates from one Math.random() uniformly and independently', () => {
    // The default source (no `random` option). With in-flight loads 0, 1, 2 and 3 the lesser of
    // two distinct uniform draws is i0 in 3 of the 6 pairs, i1 in 2, i2 in 1 and i3 in none; two
    // correlated draws (the second near the first, say) would skew these shares.
    const balancer = createBalancer({ strategy: 'power-of-two', instances: pool(4) });
    const ids = ['i0', 'i1', 'i2', 'i3'];
    for (const [load, id] of ids.entries()) {
      for (let k = 0; k < load; k++) balancer.pick({ exclude: ids.filter((other) => other !== id) });
    }
    expect(balancer.snapshot().instances.map((i) => i.inflight)).toEqual([0, 1, 2, 3]);
    const picked: string[] = [];
    for (let k = 0; k < PICKS; k++) {
      const lease = balancer.pick();
      picked.push(lease.instance.id);
      lease.release({ ok: true, latencyMs: 1 });
    }
    expectShares(shares(picked), { i0: 50, i1: 100 / 3, i2: 100 / 6, i3: 0 });
    balancer.close();
  });

  it('keeps every instance under twice its fair share with equal load', () => {
    const n = 10;
    const random = seededRandom(3);
    const { balancer } = testBalancer({ strategy: 'power-of-two', instances: pool(n) });
    const held: ReturnType<typeof balancer.pick>[] = [];
    const counts = new Map<string, number>();
    for (let i = 0; i < PICKS; i++) {
      const lease = balancer.pick();
      counts.set(lease.instance.id, (counts.get(lease.instance.id) ?? 0) + 1);
      held.push(lease);
      // About 20 requests in flight at any time, finishing in random order.
      if (held.length > 20)
        held.splice(Math.floor(random() * held.length), 1)[0]!.release({ ok: true, latencyMs: 1 });
    }
    for (const count of counts.values()) expect(count).toBeLessThanOrEqual((2 * PICKS) / n);
    expect(counts.size).toBe(n);
  });
});

describe('random', () => {
  it('draws in proportion to weight', () => {
    const { balancer } = testBalancer({ strategy: 'random', instances: pool(4, (i) => i + 1) });
    expectShares(shares(sequence(balancer, PICKS)), { i0: 10, i1: 20, i2: 30, i3: 40 });
  });

  it('draws uniformly with equal weights', () => {
    const { balancer } = testBalancer({ strategy: 'random', instances: pool(4) });
    expectShares(shares(sequence(balancer, PICKS)), { i0: 25, i1: 25, i2: 25, i3: 25 });
  });
});

describe('peak-ewma', () => {
  function measured(latency: (id: string) => number, ok: (id: string) => boolean = () => true) {
    const clock = manualClock();
    const balancer = createBalancer({
      strategy: 'peak-ewma',
      clock,
      random: seededRandom(5),
      instances: pool(3),
    });
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      clock.advance(1);
      const lease = balancer.pick();
      ids.push(lease.instance.id);
      lease.release({ ok: ok(lease.instance.id), latencyMs: latency(lease.instance.id) });
    }
    return shares(ids.slice(1_000));
  }

  it('routes around a slow instance', () => {
    const result = measured((id) => (id === 'i2' ? 50 : 10));
    expect(result.i2 ?? 0).toBeLessThan(10);
  });

  it('keeps weighing in-flight requests with the smallest decayMs', () => {
    // decayMs = Number.MIN_VALUE is a valid option, but 1 / decayMs is Infinity, and two samples
    // at the same instant blended with weight exp(-0 × Infinity) = NaN: the estimate stayed NaN
    // and every cost comparison false, so the busy instance got a third of the picks.
    const balancer = createBalancer({
      strategy: { name: 'peak-ewma', decayMs: Number.MIN_VALUE },
      clock: () => 0,
      random: seededRandom(5),
      instances: pool(3),
    });
    const only = (id: string) => ({ exclude: ['i0', 'i1', 'i2'].filter((other) => other !== id) });
    for (const id of ['i0', 'i1', 'i2'])
      for (let i = 0; i < 2; i++) balancer.pick(only(id)).release({ ok: true, latencyMs: 3 });
    const held = Array.from({ length: 5 }, () => balancer.pick(only('i2')));
    const result = shares(sequence(balancer, 3_000));
    expect(result.i2 ?? 0).toBeLessThan(1);
    for (const lease of held) lease.release({ ok: true, latencyMs: 3 });
  });

  it('does not let an instance that fails fast attract traffic', () => {
    const result = measured(
      (id) => (id === 'i2' ? 0.1 : 10),
      (id) => id !== 'i2',
    );
    expect(result.i2 ?? 0).toBeLessThan(5);
  });

  it('probes a once-slow instance again as its estimate decays', () => {
    const clock = manualClock();
    const balancer = createBalancer({
      strategy: 'peak-ewma',
      clock,
      random: seededRandom(9),
      instances: pool(2),
    });
    // i1 answers one request terribly slowly; i0 keeps answering in 1 ms.
    for (let i = 0; i < 20; i++) {
      const lease = balancer.pick();
      lease.release({ ok: true, latencyMs: lease.instance.id === 'i1' ? 5_000 : 1 });
    }
    const probes: number[] = [];
    for (let t = 0; t < 200_000; t += 10) {
      clock.advance(10);
      const lease = balancer.pick();
      if (lease.instance.id === 'i1') probes.push(t);
      lease.release({ ok: true, latencyMs: 1 });
    }
    // 5 000 ms decays below 1 ms after τ·ln(5 000) ≈ 85 s with τ = 10 s: not before, but then.
    expect(probes.length).toBeGreaterThan(0);
    expect(probes[0]).toBeGreaterThan(60_000);
    expect(probes[0]).toBeLessThan(120_000);
  });
});

describe('consistent-hash', () => {
  const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);

  function owners(balancer: ReturnType<typeof createBalancer>): Map<string, string> {
    const map = new Map<string, string>();
    for (const key of keys) {
      const lease = balancer.pick({ key });
      map.set(key, lease.instance.id);
      lease.release({ ok: true, latencyMs: 1 });
    }
    return map;
  }

  function moved(a: Map<string, string>, b: Map<string, string>): number {
    let count = 0;
    for (const [key, id] of a) if (b.get(key) !== id) count += 1;
    return count / a.size;
  }

  it.each([1, 2, 65_537, 1_000_003, 50_000_000])(
    'reduces every 32-bit hash into a table of %i slots, evenly',
    (size) => {
      // The ends of the hash range, then one hash per 1/8 of it: each lands in its 1/8 of the table.
      expect(reduce(0, size)).toBe(0);
      expect(reduce(0xffff_ffff, size)).toBe(size - 1);
      for (let eighth = 0; eighth < 8; eighth++) {
        const slot = reduce(eighth * 2 ** 29, size);
        expect(slot).toBe(Math.floor((eighth * size) / 8));
      }
    },
  );

  it('maps a key to the same instance every time', () => {
    const { balancer } = testBalancer({ strategy: 'consistent-hash', instances: pool(5) });
    const first = sequence(balancer, 1, () => 'user-7')[0];
    expect(new Set(sequence(balancer, 100, () => 'user-7'))).toEqual(new Set([first]));
  });

  it('spreads keys evenly', () => {
    const { balancer } = testBalancer({ strategy: 'consistent-hash', instances: pool(10) });
    const result = shares([...owners(balancer).values()]);
    for (const share of Object.values(result)) expect(Math.abs(share - 10)).toBeLessThan(1.5);
  });

  it.each([5, 10, 20])('moves about 1/n of the keys when one of %i instances is added or removed', (n) => {
    const { balancer } = testBalancer({ strategy: 'consistent-hash', instances: pool(n) });
    const before = owners(balancer);
    balancer.add({ id: 'new', url: 'http://127.0.0.1:9999' });
    const added = owners(balancer);
    // Maglev moves a little more than the minimum 1/(n + 1); 25 % slack bounds it.
    expect(moved(before, added)).toBeGreaterThan(0.75 / (n + 1));
    expect(moved(before, added)).toBeLessThan(1.25 / (n + 1));
    balancer.remove('new');
    const removed = owners(balancer);
    expect(moved(added, removed)).toBeLessThan(1.25 / (n + 1));
    // Removing what was added restores the original mapping exactly.
    expect(moved(before, removed)).toBe(0);
  });

  it('sends the keys of an unhealthy instance to others and only those', () => {
    const { balancer } = testBalancer({ strategy: 'consistent-hash', instances: pool(5) });
    const before = owners(balancer);
    // Fail i3 until its health falls below the threshold.
    while (balancer.get('i3')!.state === 'healthy') {
      const lease = balancer.pick({ key: [...before].find(([, id]) => id === 'i3')![0] });
      lease.release({ ok: false });
    }
    const after = owners(balancer);
    for (const [key, id] of before) {
      if (id === 'i3') expect(after.get(key)).not.toBe('i3');
      else expect(after.get(key)).toBe(id);
    }
  });

  it('honours weights', () => {
    const { balancer } = testBalancer({
      strategy: 'consistent-hash',
      instances: pool(2, (i) => (i === 0 ? 3 : 1)),
    });
    expect(shares([...owners(balancer).values()]).i0).toBeCloseTo(75, -0.5);
  });

  it('behaves like power-of-two without a key', () => {
    const { balancer } = testBalancer({ strategy: 'consistent-hash', instances: pool(3) });
    let busy = balancer.pick();
    while (busy.instance.id !== 'i2') {
      busy.release({ ok: true });
      busy = balancer.pick();
    }
    expectShares(shares(sequence(balancer, 20_000)), { i0: 50, i1: 50, i2: 0 });
  });
});

describe('every strategy', () => {
  const names = STRATEGY_NAMES;

  it.each(names)('%s is deterministic under an injected clock and random', (strategy) => {
    const run = () => {
      const { balancer, clock } = testBalancer({
        strategy,
        instances: pool(7, (i) => 1 + (i % 3)),
        seed: 11,
      });
      const ids: string[] = [];
      for (let i = 0; i < 500; i++) {
        clock.advance(3);
        const lease = balancer.pick({ key: `k${i % 13}` });
        ids.push(lease.instance.id);
        lease.release({ ok: i % 17 !== 0, latencyMs: (i * 7) % 23 });
      }
      return ids;
    };
    expect(run()).toEqual(run());
  });

  it.each(names)('%s never picks an excluded instance and fails fast when all are', (strategy) => {
    const { balancer } = testBalancer({ strategy, instances: pool(4) });
    for (let i = 0; i < 200; i++) {
      const lease = balancer.pick({ key: `k${i}`, exclude: ['i0', 'i2'] });
      expect(['i1', 'i3']).toContain(lease.instance.id);
      lease.release({ ok: true, latencyMs: 1 });
    }
    expect(() => balancer.pick({ exclude: new Set(['i0', 'i1', 'i2', 'i3']) })).toThrow(
      expect.objectContaining({ code: 'BALLAST_NO_INSTANCE' }),
    );
  });

  it.each(names)('%s honours match on zone and metadata', (strategy) => {
    const { balancer } = testBalancer({
      strategy,
      instances: [
        { id: 'eu-v1', url: 'http://a.test', zone: 'eu-1', metadata: { version: 'v1' } },
        { id: 'eu-v2', url: 'http://b.test', zone: 'eu-1', metadata: { version: 'v2' } },
        { id: 'us-v2', url: 'http://c.test', zone: 'us-1', metadata: { version: 'v2' } },
      ],
    });
    for (let i = 0; i < 50; i++) {
      const lease = balancer.pick({ key: `k${i}`, match: { zone: 'eu-1', version: 'v2' } });
      expect(lease.instance.id).toBe('eu-v2');
      lease.release({ ok: true });
    }
    expect(new Set(sequence(balancer, 60).filter(Boolean))).toEqual(new Set(['eu-v1', 'eu-v2', 'us-v2']));
    expect(() => balancer.pick({ match: { zone: 'ap-1' } })).toThrow(
      expect.objectContaining({ code: 'BALLAST_NO_INSTANCE' }),
    );
  });
});
