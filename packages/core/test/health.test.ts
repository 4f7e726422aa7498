import fc from 'fast-check';
import { createBalancer, seededRandom, type Balancer, type BalancerEvents, type Lease } from '../src';
import { manualClock, pool, sequence, testBalancer } from './helpers';

function fail(balancer: Balancer, id: string, times: number): void {
  for (let i = 0; i < times; i++) {
    const lease = balancer.pick({
      exclude: balancer
        .instances()
        .filter((m) => m.id !== id)
        .map((m) => m.id),
    });
    // No latency: the failure lands at the clock's current time.
    lease.release({ ok: false, latencyMs: 0 });
  }
}

function record<E extends keyof BalancerEvents>(balancer: Balancer, event: E): BalancerEvents[E][] {
  const seen: BalancerEvents[E][] = [];
  balancer.on(event, (e) => seen.push(e));
  return seen;
}

describe('outlier ejection', () => {
  it('ejects at the fifth consecutive failure and restores the moment the time is up', () => {
    const { balancer, clock } = testBalancer({ instances: pool(3), health: { slowStart: false } });
    const ejects = record(balancer, 'eject');
    const restores = record(balancer, 'restore');
    fail(balancer, 'i1', 4);
    expect(ejects).toHaveLength(0);
    fail(balancer, 'i1', 1);
    expect(ejects).toMatchObject([
      { instance: { id: 'i1' }, reason: 'consecutive-failures', untilMs: 30_000 },
    ]);
    expect(balancer.get('i1')!.state).toBe('ejected');
    clock.set(29_999);
    expect(sequence(balancer, 50)).not.toContain('i1');
    clock.set(30_000);
    balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(restores).toMatchObject([{ instance: { id: 'i1' }, reason: 'ejection-expired' }]);
    expect(balancer.get('i1')!.state).toBe('healthy');
  });

  it('multiplies the ejection time by consecutive ejections, up to the maximum', () => {
    const { balancer, clock } = testBalancer({
      instances: pool(3),
      health: { slowStart: false, outlier: { baseEjectionMs: 30_000, maxEjectionMs: 100_000 } },
    });
    const ejects = record(balancer, 'eject');
    for (let round = 0; round < 4; round++) {
      // The first round takes five failures; later ones one, as a restored instance is on probation.
      fail(balancer, 'i2', round === 0 ? 5 : 1);
      const until = ejects[ejects.length - 1]!.untilMs;
      clock.set(until);
      balancer.pick().release({ ok: true, latencyMs: 1 });
    }
    const durations = ejects.map((e, i) => e.untilMs - (i === 0 ? 0 : ejects[i - 1]!.untilMs));
    expect(durations).toEqual([30_000, 60_000, 90_000, 100_000]);
  });

  it('lets a pool of two eject one, but never both', () => {
    const { balancer } = testBalancer({ instances: pool(2), health: { slowStart: false, threshold: 0 } });
    fail(balancer, 'i0', 5);
    expect(balancer.get('i0')!.state).toBe('ejected');
    for (let i = 0; i < 10; i++) balancer.pick().release({ ok: false, latencyMs: 1 });
    expect(balancer.get('i1')!.state).not.toBe('ejected');
  });

  it('caps ejections at maxEjectionPercent of a large pool', () => {
    const { balancer } = testBalancer({ instances: pool(20), health: { slowStart: false, threshold: 0 } });
    for (const id of ['i0', 'i1', 'i2', 'i3']) fail(balancer, id, 5);
    expect(
      balancer
        .instances()
        .filter((m) => m.state === 'ejected')
        .map((m) => m.id),
    ).toEqual(['i0', 'i1']);
  });

  it('ejects on request (eject) by the same rules: time, multiplier, cap, early return', () => {
    const { balancer, clock } = testBalancer({ instances: pool(3), health: { slowStart: false } });
    const ejects = record(balancer, 'eject');
    const restores = record(balancer, 'restore');
    expect(balancer.eject('i1', 'closed-early')).toBe(true);
    expect(ejects).toMatchObject([{ instance: { id: 'i1' }, reason: 'closed-early', untilMs: 30_000 }]);
    expect(sequence(balancer, 30)).not.toContain('i1');
    // Already out: true, and no second event.
    expect(balancer.eject('i1', 'closed-early')).toBe(true);
    expect(ejects).toHaveLength(1);
    // The pool of three can eject only one at a time.
    expect(balancer.eject('i2', 'closed-early')).toBe(false);
    expect(balancer.get('i2')!.state).toBe('healthy');
    clock.set(30_000);
    balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(restores).toMatchObject([{ instance: { id: 'i1' }, reason: 'ejection-expired' }]);
    // The second ejection lasts twice as long; a passed check ends it early.
    expect(balancer.eject('i1', 'closed-early')).toBe(true);
    expect(ejects[1]!.untilMs).toBe(90_000);
    balancer.reportCheck('i1', true);
    expect(balancer.get('i1')!.state).toBe('healthy');
  });

  it('rejects a bad eject reason and ignores unknown ids and disabled ejection', () => {
    const { balancer } = testBalancer({ instances: pool(3) });
    for (const reason of ['', 'x'.repeat(65), 42, undefined]) {
      expect(() => balancer.eject('i0', reason as string)).toThrow(
        expect.objectContaining({
          code: 'BALLAST_INVALID_CONFIG',
          message: expect.stringContaining('reason'),
        }),
      );
    }
    expect(balancer.eject('nope', 'closed-early')).toBe(false);
    const off = testBalancer({ instances: pool(3), health: { outlier: false } }).balancer;
    expect(off.eject('i0', 'closed-early')).toBe(false);
    expect(off.get('i0')!.state).not.toBe('ejected');
  });

  it('ejects by success rate at the interval sweep', () => {
    const { balancer, clock } = testBalancer({
      strategy: 'round-robin',
      instances: pool(6),
      health: {
        slowStart: false,
        threshold: 0,
        outlier: { consecutiveFailures: 0, failurePercentage: false },
      },
    });
    const ejects = record(balancer, 'eject');
    let served = 0;
    for (let i = 0; i < 6 * 120; i++) {
      const lease = balancer.pick();
      // i4 fails every other request: 50 % against 100 % for the rest.
      lease.release({ ok: lease.instance.id !== 'i4' || served++ % 2 === 0, latencyMs: 1 });
    }
    expect(ejects).toHaveLength(0);
    clock.set(10_000);
    balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(ejects).toMatchObject([{ instance: { id: 'i4' }, reason: 'success-rate' }]);
  });

  it('ejects by failure percentage at the interval sweep', () => {
    const { balancer, clock } = testBalancer({
      strategy: 'round-robin',
      instances: pool(5),
      health: { slowStart: false, threshold: 0, outlier: { consecutiveFailures: 0, successRate: false } },
    });
    const ejects = record(balancer, 'eject');
    let served = 0;
    for (let i = 0; i < 5 * 60; i++) {
      const lease = balancer.pick();
      // i0 fails nine requests in ten.
      lease.release({ ok: lease.instance.id !== 'i0' || served++ % 10 === 0, latencyMs: 1 });
    }
    clock.set(10_000);
    balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(ejects).toMatchObject([{ instance: { id: 'i0' }, reason: 'failure-percentage' }]);
  });

  it('ejects by failure percentage at exactly the threshold', () => {
    // 10 failures in 100 is 10 %, which meets a 10 % threshold; (1 - 0.9) × 100 is 9.999…
    // in floating point, and the instance was let off.
    const { balancer, clock } = testBalancer({
      strategy: 'round-robin',
      instances: pool(5),
      health: {
        slowStart: false,
        threshold: 0,
        outlier: {
          consecutiveFailures: 0,
          successRate: false,
          failurePercentage: { threshold: 10, requestVolume: 100 },
        },
      },
    });
    const ejects = record(balancer, 'eject');
    let served = 0;
    for (let i = 0; i < 5 * 100; i++) {
      const lease = balancer.pick();
      lease.release({ ok: lease.instance.id !== 'i0' || served++ % 10 !== 0, latencyMs: 1 });
    }
    expect(balancer.get('i0')).toMatchObject({ requests: 100, failures: 10 });
    clock.set(10_000);
    balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(ejects).toMatchObject([{ instance: { id: 'i0' }, reason: 'failure-percentage' }]);
  });

  it('re-ejects an instance that fails on probation, right after its return', () => {
    const { balancer, clock } = testBalancer({
      instances: pool(3),
      health: { slowStart: { windowMs: 10_000 } },
    });
    const ejects = record(balancer, 'eject');
    fail(balancer, 'i1', 5);
    clock.set(30_000);
    fail(balancer, 'i1', 1);
    expect(ejects.map((e) => [e.reason, e.untilMs])).toEqual([
      ['consecutive-failures', 30_000],
      ['failed-on-probation', 90_000],
    ]);
    // Back at 90 s; past the probation window, one failure is just one failure.
    clock.set(90_000);
    balancer.pick({ exclude: ['i0', 'i2'] }).release({ ok: true, latencyMs: 0 });
    clock.set(90_000 + 10_000);
    fail(balancer, 'i1', 1);
    expect(ejects).toHaveLength(2);
  });

  it('ends an expired ejection before a late failure ejects the instance again', () => {
    // A request still in flight when the ejection's time ran out fails before any pick or check
    // ended the ejection: the instance was ejected a second time with no restore between.
    const { balancer, clock } = testBalancer({ instances: pool(3), health: { slowStart: false } });
    const events: string[] = [];
    balancer
      .on('eject', (e) => events.push(`eject ${e.instance.id} ${e.reason}`))
      .on('restore', (e) => events.push(`restore ${e.instance.id} ${e.reason}`));
    const late = balancer.pick({ exclude: ['i0', 'i2'] });
    fail(balancer, 'i1', 5);
    clock.set(30_000);
    late.release({ ok: false, latencyMs: 0 });
    expect(events).toEqual([
      'eject i1 consecutive-failures',
      'restore i1 ejection-expired',
      'eject i1 failed-on-probation',
    ]);
  });

  it('ends an ejection early when an active check passes', () => {
    const { balancer } = testBalancer({ instances: pool(3), health: { slowStart: false } });
    fail(balancer, 'i0', 5);
    const restores = record(balancer, 'restore');
    balancer.reportCheck('i0', true);
    expect(restores).toMatchObject([{ instance: { id: 'i0' }, reason: 'check-passed' }]);
    expect(balancer.get('i0')!.state).toBe('healthy');
  });
});

describe('hysteresis', () => {
  it('does not let successes of requests in flight bring an instance back, only the next tick', () => {
    const { balancer, clock } = testBalancer({
      strategy: 'round-robin',
      instances: pool(3),
      health: { outlier: false, slowStart: false },
    });
    const held = Array.from({ length: 9 }, () => balancer.pick()).filter((l) => l.instance.id === 'i1');
    // Fail i1 until it is out, while three of its requests are still in flight.
    while (balancer.get('i1')!.state === 'healthy') fail(balancer, 'i1', 1);
    for (const lease of held) lease.release({ ok: true, latencyMs: 0 });
    expect(balancer.get('i1')!.health).toBeGreaterThanOrEqual(0.5);
    expect(balancer.get('i1')!.state).toBe('unhealthy');
    clock.advance(1_000);
    sequence(balancer, 1);
    expect(balancer.get('i1')!.state).toBe('healthy');
  });
});

describe('active checks', () => {
  it('takes an instance out on a failed check and back on a passed one', () => {
    const { balancer } = testBalancer({ instances: pool(3), health: { slowStart: false } });
    balancer.reportCheck('i1', false);
    expect(balancer.get('i1')).toMatchObject({ state: 'unhealthy', health: 0 });
    expect(sequence(balancer, 30)).not.toContain('i1');
    balancer.reportCheck('i1', true);
    expect(balancer.get('i1')).toMatchObject({ state: 'healthy', health: 1 });
    balancer.reportCheck('nope', true);
  });
});

describe('slow start', () => {
  function warmPool(options: object = {}) {
    const clock = manualClock(1_000);
    const balancer = createBalancer({
      clock,
      random: seededRandom(1),
      instances: pool(3),
      health: { slowStart: options },
    });
    return { balancer, clock };
  }

  it('does not apply at start-up', () => {
    const { balancer } = warmPool();
    expect(balancer.instances().map((m) => [m.state, m.effectiveWeight])).toEqual([
      ['healthy', 1],
      ['healthy', 1],
      ['healthy', 1],
    ]);
  });

  it.each([
    [1, [0.1, 0.1, 0.5, 0.75, 1]],
    [2, [0.1, Math.sqrt(0.1), Math.sqrt(0.5), Math.sqrt(0.75), 1]],
  ])(
    'ramps a joining instance from 10 %% to 100 %% over the window (aggression %d)',
    (aggression, expected) => {
      const { balancer, clock } = warmPool({ windowMs: 30_000, aggression });
      const added = balancer.add({ id: 'new', url: 'http://127.0.0.1:9000', weight: 2 });
      const factors: number[] = [];
      for (const t of [0, 3_000, 15_000, 22_500, 30_000]) {
        clock.set(1_000 + t);
        balancer.pick().release({ ok: true, latencyMs: 1 });
        factors.push(added.effectiveWeight / 2);
      }
      factors.forEach((f, i) => expect(f).toBeCloseTo(expected[i]!, 6));
      expect(added.state).toBe('healthy');
    },
  );

  it.each(['least-connections', 'power-of-two', 'weighted-round-robin', 'random'] as const)(
    '%s gives a joining instance its ramped share, not a full one',
    (strategy) => {
      const clock = manualClock(1_000);
      const balancer = createBalancer({
        clock,
        random: seededRandom(3),
        strategy,
        instances: pool(3),
        health: { slowStart: { windowMs: 30_000 } },
      });
      balancer.add({ id: 'new', url: 'http://127.0.0.1:9000' });
      // Eight requests in flight at a time, over the first 3 s of the ramp (factor 0.1 to 0.26).
      const held: Lease[] = [];
      const picked: string[] = [];
      for (let i = 0; i < 3_000; i++) {
        clock.advance(1);
        const lease = balancer.pick();
        picked.push(lease.instance.id);
        held.push(lease);
        if (held.length > 8) held.shift()!.release({ ok: true, latencyMs: 8 });
      }
      const share = picked.filter((id) => id === 'new').length / picked.length;
      // A full share is 25 %; weighted by the ramp it is under 8 %.
      expect(share).toBeLessThan(0.1);
    },
  );

  it('ramps an instance coming back from ejection', () => {
    const { balancer, clock } = warmPool({ windowMs: 10_000 });
    fail(balancer, 'i0', 5);
    clock.set(1_000 + 30_000);
    balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(balancer.get('i0')).toMatchObject({ state: 'slow-start', effectiveWeight: 0.1 });
  });
});

describe('panic', () => {
  it('spreads over every instance when too few are healthy, and says so on entry and exit', () => {
    const { balancer } = testBalancer({
      strategy: 'round-robin',
      instances: pool(4),
      health: { slowStart: false },
    });
    const panics = record(balancer, 'panic');
    balancer.reportCheck('i0', false);
    balancer.reportCheck('i1', false);
    expect(new Set(sequence(balancer, 8))).toEqual(new Set(['i2', 'i3']));
    balancer.reportCheck('i2', false);
    expect(new Set(sequence(balancer, 8))).toEqual(new Set(['i0', 'i1', 'i2', 'i3']));
    expect(panics).toEqual([
      { service: 'default', active: true, reason: 'too-few-healthy', healthy: 1, total: 4 },
    ]);
    expect(balancer.snapshot().panic).toBe(true);
    balancer.reportCheck('i2', true);
    sequence(balancer, 1);
    expect(panics[1]).toEqual({
      service: 'default',
      active: false,
      reason: 'enough-healthy',
      healthy: 2,
      total: 4,
    });
  });
});

describe('server-reported load', () => {
  it('weighs instances by qps / utilization once the blackout has passed, and forgets stale reports', () => {
    const { balancer, clock } = testBalancer({
      strategy: 'round-robin',
      instances: pool(2),
      health: { slowStart: false, load: { blackoutMs: 2_000, expiryMs: 5_000 } },
    });
    const report = (until: number) => {
      while (clock() < until) {
        clock.advance(10);
        const lease = balancer.pick();
        lease.release({ ok: true, latencyMs: 1, load: lease.instance.id === 'i0' ? 0.9 : 0.3 });
      }
    };
    report(1_500);
    expect(balancer.get('i0')!.effectiveWeight).toBe(1);
    report(4_000);
    const ratio = balancer.get('i1')!.effectiveWeight / balancer.get('i0')!.effectiveWeight;
    expect(ratio).toBeCloseTo(3, 1);
    // Silence past the expiry period: back to configured weights.
    clock.advance(6_000);
    balancer.pick().release({ ok: true, latencyMs: 1 });
    clock.advance(1_000);
    balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(balancer.get('i0')!.effectiveWeight).toBe(1);
    expect(balancer.get('i1')!.effectiveWeight).toBe(1);
  });

  it("counts failures against the reported utilization: the error penalty lowers an instance's weight", () => {
    const { balancer, clock } = testBalancer({
      strategy: 'round-robin',
      instances: pool(2),
      health: { slowStart: false, outlier: false, load: { blackoutMs: 0, errorUtilizationPenalty: 1 } },
    });
    // Both report 50 % utilization; i1 fails a quarter of its requests.
    let n = 0;
    while (clock() < 4_000) {
      clock.advance(10);
      const lease = balancer.pick();
      const failing = lease.instance.id === 'i1' && n++ % 4 === 0;
      lease.release({ ok: !failing, status: failing ? 500 : 200, latencyMs: 1, load: 0.5 });
    }
    // qps / (0.5 + 0.25 × 1): i1 keeps 0.5 / 0.75 of i0's capacity.
    const ratio = balancer.get('i1')!.effectiveWeight / balancer.get('i0')!.effectiveWeight;
    expect(ratio).toBeCloseTo(0.5 / 0.75, 1);
  });

  it('ignores load values that are not utilizations', () => {
    const { balancer } = testBalancer({ instances: pool(1) });
    for (const load of [Number.NaN, -1, 7, Infinity, '0.5', null])
      balancer.pick().release({ ok: true, latencyMs: 1, load: load as never });
    expect(balancer.get('i0')!.effectiveWeight).toBe(1);
  });
});

describe('once-a-second work with a short slow-start window', () => {
  // A bug the reliability runs found: slow start ticks every windowMs / 20 (25 ms here), and the
  // once-a-second period was measured from the last tick, so it never came: a 5x slower instance
  // kept health 1 and server-reported load never changed a weight.
  it('compares latency: an instance 5x slower than the others goes unhealthy', () => {
    const { balancer, clock } = testBalancer({
      strategy: 'round-robin',
      health: { latencyFactor: 1.5, slowStart: { windowMs: 500 } },
    });
    while (clock() < 3_000) {
      clock.advance(10);
      const lease = balancer.pick();
      lease.release({ ok: true, latencyMs: lease.instance.id === 'i1' ? 100 : 20 });
    }
    expect(balancer.get('i1')!.state).toBe('unhealthy');
    expect(balancer.get('i1')!.health).toBeLessThan(0.5);
    expect(balancer.get('i0')!.health).toBe(1);
  });

  it('weighs instances by server-reported load', () => {
    const { balancer, clock } = testBalancer({
      strategy: 'round-robin',
      instances: pool(2),
      health: { slowStart: { windowMs: 500 }, load: { blackoutMs: 0 } },
    });
    while (clock() < 3_000) {
      clock.advance(10);
      const lease = balancer.pick();
      lease.release({ ok: true, latencyMs: 1, load: lease.instance.id === 'i0' ? 0.9 : 0.3 });
    }
    expect(balancer.get('i1')!.effectiveWeight / balancer.get('i0')!.effectiveWeight).toBeCloseTo(3, 1);
  });
});

describe('health score', () => {
  it('stays in [0, 1] and never NaN whatever the outcomes, checks and times', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.constantFrom('release', 'check', 'advance'),
            ok: fc.boolean(),
            latency: fc.oneof(fc.double(), fc.constant(undefined)),
            load: fc.oneof(fc.double(), fc.constant(undefined)),
            ms: fc.integer({ min: 0, max: 60_000 }),
          }),
          { maxLength: 200 },
        ),
        (steps) => {
          const { balancer, clock } = testBalancer({ instances: pool(3) });
          for (const step of steps) {
            if (step.kind === 'advance') clock.advance(step.ms);
            else if (step.kind === 'check') balancer.reportCheck('i1', step.ok);
            else {
              try {
                balancer.pick().release({ ok: step.ok, latencyMs: step.latency, load: step.load });
              } catch (error) {
                expect(error).toMatchObject({ code: 'BALLAST_NO_INSTANCE' });
              }
            }
            for (const m of balancer.snapshot().instances) {
              expect(m.health).toBeGreaterThanOrEqual(0);
              expect(m.health).toBeLessThanOrEqual(1);
              expect(Number.isFinite(m.effectiveWeight) && m.effectiveWeight > 0).toBe(true);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
