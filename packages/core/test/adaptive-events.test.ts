/**
 * What adaptive reports, and when: the signals of `strategy-change` measure what its
 * documentation says (the load signal is the coefficient of variation of in-flight requests per
 * unit of weight), and the event is emitted once the pick that caused it is done, so listeners
 * find the balancer in a state they may change, as every other listener does.
 */
import { createBalancer, seededRandom, type BalancerEvents, type Lease } from '../src';
import { manualClock, pool } from './helpers';

/** An adaptive balancer that switches on the first sample that calls for it, over `pool`. */
const adaptive = (instances: ReturnType<typeof pool>, health: object = { outlier: false }) => {
  const clock = manualClock();
  const balancer = createBalancer({
    strategy: { name: 'adaptive', smoothing: 1, minDwellMs: 0 },
    clock,
    random: seededRandom(4),
    instances,
    health,
  });
  return { clock, balancer };
};

describe('adaptive: load signal', () => {
  it('reads no load imbalance on a pool with nothing in flight, whatever the weights', () => {
    const { clock, balancer } = adaptive(
      pool(3, (i) => [1, 1, 2][i]!),
      { outlier: false, slowStart: false },
    );
    const switches: BalancerEvents['strategy-change'][] = [];
    balancer.on('strategy-change', (e) => switches.push(e));
    const ids = ['i0', 'i1', 'i2'];
    // Each instance in turn, released at once: nothing is ever in flight when a sample is taken.
    for (let t = 0; t < 2_000; t += 10) {
      clock.advance(10);
      const id = ids[(t / 10) % 3]!;
      const lease = balancer.pick({ exclude: ids.filter((other) => other !== id) });
      lease.release({ ok: true, latencyMs: id === 'i0' ? 40 : 10 });
    }
    expect(switches.map((s) => s.to)).toEqual(['peak-ewma']);
    // (in-flight + 1) / weight, the least-connections key, read 1, 1 and 0.5 here: a CV of 0.28
    // on an idle pool, and non-zero on one loaded exactly in proportion to the weights.
    expect(switches[0]!.signals.loadCv).toBe(0);
  });

  it('reads no imbalance when in-flight requests are in proportion to the weights, and some when not', () => {
    const { clock, balancer } = adaptive(
      pool(3, (i) => [1, 1, 2][i]!),
      { outlier: false, slowStart: false },
    );
    const loadCv = () => (balancer as unknown as { impl: { loadSignal: number } }).impl.loadSignal;
    const hold = (id: string, n: number) => {
      for (let k = 0; k < n; k++) balancer.pick({ exclude: ['i0', 'i1', 'i2'].filter((o) => o !== id) });
    };
    hold('i0', 2);
    hold('i1', 2);
    hold('i2', 4);
    clock.advance(1_000);
    hold('i2', 1); // takes a sample first, with 2, 2 and 4 in flight
    expect(loadCv()).toBeCloseTo(0, 12);
    hold('i0', 4);
    clock.advance(1_000);
    hold('i0', 1); // 6, 2 and 5 in flight: per weight 6, 2 and 2.5
    expect(loadCv()).toBeGreaterThan(0.4);
  });
});

describe('adaptive: strategy-change listeners', () => {
  it('a listener that removes instances leaves the lease of the switching pick drained, not lost', () => {
    const { clock, balancer } = adaptive(pool(4), { outlier: false });
    const switches: BalancerEvents['strategy-change'][] = [];
    balancer.on('strategy-change', (e) => {
      switches.push(e);
      // An operator's hook: on divergence, take the fast pair i0 and i1 out.
      balancer.remove('i0');
      balancer.remove('i1');
    });
    let switching: Lease | undefined;
    for (let t = 0; t < 5_000 && switching === undefined; t += 10) {
      clock.advance(10);
      const lease = balancer.pick();
      if (switches.length > 0) switching = lease;
      else lease.release({ ok: true, latencyMs: lease.instance.id === 'i3' ? 80 : 10 });
    }
    expect(switches).toHaveLength(1);
    // Idle when the listener ran, i0 and i1 were forgotten at once; the switching pick, which had
    // read the pool before, then handed one of them out: a lease on an instance the balancer no
    // longer knew, whose slot the next add() took while the lease was still out.
    const listed = () => balancer.snapshot().instances.map((i) => [i.id, i.state, i.inflight]);
    expect(listed()).toContainEqual([switching!.instance.id, expect.any(String), 1]);
    balancer.add({ id: 'n0', url: 'http://127.0.0.1:20000' });
    balancer.add({ id: 'n1', url: 'http://127.0.0.1:20001' });
    switching!.release({ ok: true, latencyMs: 10 });
    expect(listed().sort()).toEqual([
      ['i2', 'healthy', 0],
      ['i3', 'healthy', 0],
      ['n0', 'slow-start', 0],
      ['n1', 'slow-start', 0],
    ]);
    // The event still says what caused it, once.
    expect(switches[0]).toMatchObject({
      from: 'least-connections',
      to: 'peak-ewma',
      reason: 'latency diverged',
    });
  });

  it('announces a switch made by a pick that finds no instance', () => {
    const { clock, balancer } = adaptive(pool(3), { outlier: false });
    const switches: string[] = [];
    balancer.on('strategy-change', (e) => switches.push(e.to));
    for (let t = 0; t < 200; t += 10) {
      clock.advance(10);
      const lease = balancer.pick();
      lease.release({ ok: true, latencyMs: lease.instance.id === 'i2' ? 80 : 10 });
    }
    expect(switches).toEqual([]);
    clock.advance(1_000);
    // The sample is taken by this pick, whatever it finds: a match nobody has.
    expect(() => balancer.pick({ match: { zone: 'nowhere' } })).toThrow(
      expect.objectContaining({ code: 'BALLAST_NO_INSTANCE' }),
    );
    expect(switches).toEqual(['peak-ewma']);
  });
});
