import { createBalancer, seededRandom, type BalancerEvents } from '../src';
import { manualClock, pool } from './helpers';

/** Drives an adaptive balancer for `ms` of virtual time, one request every 10 ms. */
function drive(latencyOf: (id: string, t: number) => number) {
  const clock = manualClock();
  const logs: { level: string; fields: object; message: string | undefined }[] = [];
  const at =
    (level: string) =>
    (fields: object, message?: string): void =>
      void logs.push({ level, fields, message });
  const balancer = createBalancer({
    strategy: 'adaptive',
    clock,
    random: seededRandom(4),
    instances: pool(3),
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
  });
  const switches: BalancerEvents['strategy-change'][] = [];
  balancer.on('strategy-change', (e) => switches.push(e));
  const run = (ms: number) => {
    const end = clock() + ms;
    while (clock() < end) {
      clock.advance(10);
      const lease = balancer.pick();
      lease.release({ ok: true, latencyMs: latencyOf(lease.instance.id, clock()) });
    }
  };
  return { balancer, switches, run, clock, logs };
}

describe('adaptive', () => {
  it('stays on least-connections while instances answer alike', () => {
    const { balancer, switches, run } = drive(() => 10);
    run(60_000);
    expect(switches).toEqual([]);
    expect(balancer.snapshot()).toMatchObject({ strategy: 'adaptive', activeStrategy: 'least-connections' });
  });

  it('moves to peak-ewma when latencies diverge, and back when they converge, with the signals', () => {
    let slow = true;
    const { balancer, switches, run, logs } = drive((id) => (id === 'i2' && slow ? 40 : 10));
    run(30_000);
    expect(switches).toHaveLength(1);
    // Logged at info with its service, both strategies, the reason and the signals.
    expect(logs.filter((l) => l.message === 'ballast: strategy switched')).toEqual([
      {
        level: 'info',
        message: 'ballast: strategy switched',
        fields: expect.objectContaining({
          service: 'default',
          from: 'least-connections',
          to: 'peak-ewma',
          reason: 'latency diverged',
          latencyCv: expect.any(Number),
        }),
      },
    ]);
    expect(switches[0]).toMatchObject({
      from: 'least-connections',
      to: 'peak-ewma',
      reason: 'latency diverged',
    });
    expect(switches[0]!.signals.latencyCv).toBeGreaterThan(0.5);
    expect(balancer.snapshot().activeStrategy).toBe('peak-ewma');
    slow = false;
    run(60_000);
    expect(switches).toHaveLength(2);
    expect(switches[1]).toMatchObject({
      from: 'peak-ewma',
      to: 'least-connections',
      reason: 'latency converged',
    });
    expect(switches[1]!.signals.latencyCv).toBeLessThan(0.2);
  });

  it('keeps peak-ewma warm while least-connections chooses, so a switch starts from what it learned', () => {
    // Cold, peak-ewma would take the slow instance as often as the others until it had samples.
    const { balancer, switches, run } = drive((id) => (id === 'i2' ? 12 : 10));
    run(5_000);
    expect(switches).toEqual([]);
    // Its per-instance estimates (kept on the instance, see Member) were fed all along.
    const estimate = (id: string) => (balancer.get(id) as unknown as { peakEwmaMs: number }).peakEwmaMs;
    expect(estimate('i0')).toBeCloseTo(10, 0);
    expect(estimate('i2')).toBeCloseTo(12, 0);
  });

  it('does not flap on a signal oscillating between the exit and enter thresholds', () => {
    // i2 alternates every 2 s between 15 ms and 25 ms: the latency CV swings between about 0.2
    // and 0.47, inside the hysteresis band, for five minutes.
    const { switches, run } = drive((id, t) =>
      id === 'i2' ? (Math.floor(t / 2_000) % 2 === 0 ? 25 : 15) : 10,
    );
    run(300_000);
    expect(switches).toEqual([]);
  });

  it('waits out the minimum dwell time between switches', () => {
    let slow = true;
    const clock = manualClock();
    const balancer = createBalancer({
      strategy: { name: 'adaptive', minDwellMs: 20_000, smoothing: 1 },
      clock,
      random: seededRandom(4),
      instances: pool(3),
    });
    const at: number[] = [];
    balancer.on('strategy-change', () => at.push(clock()));
    for (let t = 0; t < 60_000; t += 10) {
      clock.advance(10);
      if (t === 22_000) slow = false;
      const lease = balancer.pick();
      lease.release({ ok: true, latencyMs: lease.instance.id === 'i2' && slow ? 40 : 10 });
    }
    expect(at.length).toBe(2);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(20_000);
  });

  it('keeps its signals finite after an absurd latency, and still follows diverging latencies', () => {
    // One release reporting 1e160 ms: its square overflowed, the signal became NaN for good, and
    // adaptive never switched again, whatever the latencies did.
    const clock = manualClock();
    const balancer = createBalancer({
      clock,
      random: seededRandom(4),
      instances: pool(3),
      health: { outlier: false, latencyFactor: 1e300 },
    });
    const switches: BalancerEvents['strategy-change'][] = [];
    balancer.on('strategy-change', (e) => switches.push(e));
    balancer.pick().release({ ok: true, latencyMs: 1e160 });
    while (clock() < 120_000) {
      clock.advance(10);
      const lease = balancer.pick();
      lease.release({ ok: true, latencyMs: lease.instance.id === 'i2' ? 500 : 5 });
    }
    expect(switches.length).toBeGreaterThan(0);
    for (const s of switches) expect(Number.isFinite(s.signals.latencyCv)).toBe(true);
    expect(balancer.snapshot().activeStrategy).toBe('peak-ewma');
  });

  it('rejects thresholds without a gap', () => {
    expect(() =>
      createBalancer({ strategy: { name: 'adaptive', enterLatencyCv: 0.3, exitLatencyCv: 0.3 } }),
    ).toThrow(expect.objectContaining({ field: 'strategy.exitLatencyCv' }));
  });
});
