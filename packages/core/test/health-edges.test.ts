/**
 * The health model at its edges: the ejection multiplier over quiet periods, a passed check
 * ending an ejection for timeouts, Envoy's default for maxEjectionMs, a server reporting 0 %
 * utilization, and the panic threshold, idle recovery, slow start and tiers at their boundaries.
 */
import {
  createBalancer,
  seededRandom,
  type Balancer,
  type BalancerEvents,
  type BalancerOptions,
  type Lease,
} from '../src';
import { manualClock, pool } from './helpers';

function record<E extends keyof BalancerEvents>(b: Balancer, e: E): BalancerEvents[E][] {
  const seen: BalancerEvents[E][] = [];
  b.on(e, (x) => seen.push(x));
  return seen;
}
function only(b: Balancer, id: string): Lease {
  return b.pick({
    exclude: b
      .instances()
      .filter((m) => m.id !== id)
      .map((m) => m.id),
  });
}

/** A balancer on a manual clock (starting at `start`) and a seeded random. */
function clocked(options: Omit<BalancerOptions, 'clock' | 'random'>, start = 0) {
  const clock = manualClock(start);
  return { clock, b: createBalancer({ clock, random: seededRandom(1), ...options }) };
}

describe('ejection multiplier decay', () => {
  it('decays one step per clean interval even when no pick came during those intervals', () => {
    const { clock, b } = clocked({
      instances: pool(3),
      health: { slowStart: false },
    });
    const ejects = record(b, 'eject');
    // Three consecutive ejections: 30 s, 60 s, 90 s; each ends at its deadline.
    let t = 0;
    for (let k = 0; k < 3; k++) {
      expect(b.eject('i0', 'closed-early')).toBe(true);
      t = ejects[ejects.length - 1]!.untilMs;
      clock.set(t);
      b.pick().release({ ok: true, latencyMs: 1 });
    }
    expect(ejects.map((e) => e.untilMs)).toEqual([30_000, 90_000, 180_000]);
    // An hour clean (360 intervals of 10 s) on a quiet service: the multiplier is long back to 0.
    clock.set(t + 3_600_000);
    expect(b.eject('i0', 'closed-early')).toBe(true);
    // Was 120 000 (4 × base: no decay at all).
    expect(ejects[3]!.untilMs - (t + 3_600_000)).toBe(30_000);
  });
});

describe('a passed active check brings an ejected instance back', () => {
  it('returns to service even when its latency score is low (timeouts that got it ejected)', () => {
    const { clock, b } = clocked({
      strategy: 'round-robin',
      instances: pool(3),
      health: { slowStart: false },
    });
    clock.set(100);
    // i0 hangs: five requests time out after 800 ms (others answer in 10 ms).
    const held = Array.from({ length: 5 }, () => b.pick({ exclude: ['i1', 'i2'] }));
    for (const id of ['i1', 'i2'])
      b.pick({ exclude: ['i0', id === 'i1' ? 'i2' : 'i1'] }).release({ ok: true, latencyMs: 10 });
    for (const l of held) l.release({ ok: false, latencyMs: 800 });
    expect(b.get('i0')!.state).toBe('ejected');
    clock.set(1_000);
    b.pick().release({ ok: true, latencyMs: 10 });
    // Its health endpoint says it is fine again.
    b.reportCheck('i0', true);
    // Was unhealthy (health 0.125) until idle recovery lifted the latency score.
    expect(b.get('i0')!.state).toBe('healthy');
    const ids = Array.from({ length: 6 }, () => {
      const l = b.pick();
      l.release({ ok: true, latencyMs: 10 });
      return l.instance.id;
    });
    expect(ids).toContain('i0');
  });

  it('control: the same passed check on an instance out for the same low score (not ejected) brings it back', () => {
    const { clock, b } = clocked({
      strategy: 'round-robin',
      instances: pool(3),
      health: { slowStart: false, outlier: false },
    });
    clock.set(100);
    const held = Array.from({ length: 5 }, () => b.pick({ exclude: ['i1', 'i2'] }));
    for (const id of ['i1', 'i2'])
      b.pick({ exclude: ['i0', id === 'i1' ? 'i2' : 'i1'] }).release({ ok: true, latencyMs: 10 });
    for (const l of held) l.release({ ok: false, latencyMs: 800 });
    clock.set(1_000);
    b.pick().release({ ok: true, latencyMs: 10 });
    expect(b.get('i0')!.state).toBe('unhealthy');
    b.reportCheck('i0', true);
    expect(b.get('i0')!.state).toBe('healthy');
  });
});

describe('restore event', () => {
  it('is emitted when the ejection ends, though a failing check keeps the instance out', () => {
    const { clock, b } = clocked({
      instances: pool(3),
      health: { slowStart: false },
    });
    const states: string[] = [];
    b.on('restore', (e) => states.push(`${e.reason} ${e.instance.state}`));
    b.eject('i0', 'closed-early');
    // Its active check fails while it is out.
    b.reportCheck('i0', false);
    clock.set(30_000);
    b.pick().release({ ok: true, latencyMs: 1 });
    expect(states).toEqual(['ejection-expired unhealthy']);
    expect(b.snapshot().instances.find((i) => i.id === 'i0')!.state).toBe('unhealthy');
  });
});

describe('outlier options', () => {
  it('accepts a baseEjectionMs above 300 000 when maxEjectionMs is not given (Envoy: max defaults to max(300 s, base))', () => {
    // Threw "Invalid health.outlier.maxEjectionMs: 300000 (expected at least baseEjectionMs (400000))",
    // naming a field the caller never set.
    expect(() =>
      createBalancer({
        clock: manualClock(),
        instances: pool(3),
        health: { outlier: { baseEjectionMs: 400_000 } },
      }),
    ).not.toThrow();
  });

  it('still rejects an explicit maxEjectionMs below baseEjectionMs, naming it', () => {
    expect(() =>
      createBalancer({
        clock: manualClock(),
        instances: pool(3),
        health: { outlier: { baseEjectionMs: 60_000, maxEjectionMs: 30_000 } },
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'BALLAST_INVALID_CONFIG',
        field: 'health.outlier.maxEjectionMs',
        value: 30_000,
      }),
    );
  });
});

describe('ORCA utilization 0', () => {
  it('a report of 0 % utilization does not hand the instance almost all the traffic (gRPC WRR ignores it)', () => {
    const { clock, b } = clocked({
      strategy: 'weighted-round-robin',
      instances: pool(3),
      health: { slowStart: false },
    });
    const picked: string[] = [];
    for (let t = 10; t <= 30_000; t += 10) {
      clock.set(t);
      const l = b.pick();
      if (t > 20_000) picked.push(l.instance.id);
      l.release({ ok: true, latencyMs: 1, load: l.instance.id === 'i0' ? 0 : 0.5 });
    }
    const w = b.instances().map((m) => m.effectiveWeight);
    // Was [2.99, 0.05, 0.05]: i0 got 60× the weight of the others, ~98 % of picks.
    const share = picked.filter((id) => id === 'i0').length / picked.length;
    expect(w[0]! / w[1]!).toBeLessThan(2);
    expect(share).toBeLessThan(0.5);
  });
});

describe('boundaries', () => {
  it('panic starts below, not at, panicThreshold: 2 of 4 healthy is no panic, 1 of 4 is', () => {
    const b = createBalancer({
      clock: manualClock(),
      random: seededRandom(1),
      instances: pool(4),
      health: { slowStart: false },
    });
    const panics = record(b, 'panic');
    b.reportCheck('i0', false);
    b.reportCheck('i1', false);
    expect(b.snapshot().panic).toBe(false);
    b.reportCheck('i2', false);
    expect(panics).toEqual([
      { service: 'default', active: true, reason: 'too-few-healthy', healthy: 1, total: 4 },
    ]);
  });

  it.each([
    [99, 5, []],
    [100, 4, []],
    [100, 5, ['i0:success-rate']],
  ])('success-rate sweep needs requestVolume (%d) on minimumHosts (%d) hosts', (volume, hosts, expected) => {
    const { clock, b } = clocked({
      instances: pool(hosts),
      health: {
        threshold: 0,
        slowStart: false,
        outlier: { consecutiveFailures: 0, failurePercentage: false },
      },
    });
    const ejects = record(b, 'eject');
    for (let k = 0; k < volume; k++)
      for (let h = 0; h < hosts; h++) {
        clock.set(1 + k * 0.01);
        only(b, `i${h}`).release({ ok: h !== 0 || k % 2 === 0, latencyMs: 0 });
      }
    clock.set(10_000);
    b.pick().release({ ok: true, latencyMs: 1 });
    expect(ejects.map((e) => `${e.instance.id}:${e.reason}`)).toEqual(expected);
  });

  it('an instance out on its score recovers while idle, once, into slow start', () => {
    const { clock, b } = clocked({
      instances: pool(3),
      health: { outlier: { consecutiveFailures: 0 } },
    });
    const changes = record(b, 'health-change');
    for (let k = 0; k < 7; k++) {
      clock.advance(10);
      only(b, 'i0').release({ ok: false, latencyMs: 0 });
    }
    expect(b.get('i0')!.state).toBe('unhealthy');
    for (let s = 0; s < 20; s++) {
      clock.advance(500);
      b.pick().release({ ok: true, latencyMs: 1 });
    }
    expect(changes.map((e) => `${e.instance.id} ${e.from}->${e.to}`)).toEqual([
      'i0 healthy->unhealthy',
      'i0 unhealthy->slow-start',
    ]);
  });

  it('update() of weight during slow start keeps the ramp factor and ends at the new weight', () => {
    const { clock, b } = clocked(
      {
        instances: pool(3),
        health: { slowStart: { windowMs: 30_000 } },
      },
      1_000,
    );
    const n = b.add({ id: 'n', url: 'http://127.0.0.1:9999' });
    clock.advance(15_000);
    b.pick().release({ ok: true, latencyMs: 1 });
    expect(n.effectiveWeight).toBeCloseTo(0.5, 6);
    b.update('n', { weight: 4 });
    expect(n).toMatchObject({ state: 'slow-start', effectiveWeight: 2 });
    clock.advance(15_000);
    b.pick().release({ ok: true, latencyMs: 1 });
    expect(n).toMatchObject({ state: 'healthy', effectiveWeight: 4 });
  });

  it('with every instance of the first tier ejected the next tier serves, without panic even with failOnPanic', () => {
    const b = createBalancer({
      clock: manualClock(),
      random: seededRandom(1),
      instances: [
        { id: 'a', url: 'http://a:1' },
        { id: 'b', url: 'http://b:1' },
        { id: 'c', url: 'http://c:1', priority: 1 },
        { id: 'd', url: 'http://d:1', priority: 1 },
      ],
      health: { failOnPanic: true, outlier: { maxEjectionPercent: 50 } },
    });
    expect([b.eject('a', 'x'), b.eject('b', 'x')]).toEqual([true, true]);
    const ids = Array.from({ length: 4 }, () => {
      const l = b.pick();
      l.release({ ok: true, latencyMs: 1 });
      return l.instance.id;
    });
    expect(new Set(ids)).toEqual(new Set(['c', 'd']));
    expect(b.snapshot().panic).toBe(false);
  });
});
