import { createBalancer, seededRandom } from '../src';
import { pool } from './helpers';

/** A manual clock that can be told to return NaN for its next `n` readings (a glitch). */
function glitchyClock(start = 0) {
  let now = start;
  let nanReads = 0;
  const clock = () => {
    if (nanReads > 0) {
      nanReads -= 1;
      return Number.NaN;
    }
    return now;
  };
  clock.set = (ms: number) => {
    now = ms;
  };
  clock.glitch = (n = 1) => {
    nanReads = n;
  };
  return clock;
}

describe('a clock that glitches to NaN once', () => {
  it('one NaN reading at a pick does not disable ejection deadlines and maintenance for good', () => {
    const clock = glitchyClock();
    const balancer = createBalancer({
      clock,
      random: seededRandom(1),
      strategy: 'round-robin',
      instances: pool(3),
      health: { slowStart: false },
    });
    const events: string[] = [];
    balancer
      .on('eject', (e) => events.push(`eject ${e.instance.id}`))
      .on('restore', (e) => events.push(`restore ${e.instance.id}`));
    // Four failures on i1 with a sane clock.
    for (let i = 0; i < 4; i++) balancer.pick({ exclude: ['i0', 'i2'] }).release({ ok: false, latencyMs: 1 });
    // The fifth pick reads NaN once (a glitch); the clock is fine again for the release.
    clock.glitch(1);
    balancer.pick({ exclude: ['i0', 'i2'] }).release({ ok: false, latencyMs: 1 });
    expect(events).toEqual(['eject i1']);
    // An eject event was emitted: the instance must be ejected, and come back once its time is
    // up, long after the glitch.
    const stateAfterEject = balancer.snapshot().instances.find((i) => i.id === 'i1')!.state;
    clock.set(120_000);
    for (let i = 0; i < 6; i++) balancer.pick().release({ ok: true, latencyMs: 1 });
    expect({ stateAfterEject, events }).toEqual({
      stateAfterEject: 'ejected',
      events: ['eject i1', 'restore i1'],
    });
  });

  it('after that glitch, a newcomer still ramps up through slow start (maintenance keeps running)', () => {
    const clock = glitchyClock();
    const balancer = createBalancer({
      clock,
      random: seededRandom(1),
      strategy: 'round-robin',
      instances: pool(4),
      health: { slowStart: { windowMs: 10_000 } },
    });
    for (let i = 0; i < 4; i++)
      balancer.pick({ exclude: ['i0', 'i2', 'i3'] }).release({ ok: false, latencyMs: 1 });
    clock.glitch(1);
    balancer.pick({ exclude: ['i0', 'i2', 'i3'] }).release({ ok: false, latencyMs: 1 });
    clock.set(1_000);
    const added = balancer.add({ id: 'new', url: 'http://127.0.0.1:9000' });
    expect(added.state).toBe('slow-start');
    // A minute later, with traffic all along, the 10 s ramp is long over.
    for (let t = 1_000; t <= 61_000; t += 250) {
      clock.set(t);
      balancer.pick().release({ ok: true, latencyMs: 1 });
    }
    expect([added.state, added.effectiveWeight]).toEqual(['healthy', 1]);
  });

  it('one NaN reading in add() does not leak NaN into effectiveWeight and the snapshot', () => {
    const clock = glitchyClock(1_000);
    const balancer = createBalancer({
      clock,
      random: seededRandom(1),
      instances: pool(3),
      health: { slowStart: { windowMs: 10_000 } },
    });
    clock.glitch(1);
    balancer.add({ id: 'new', url: 'http://127.0.0.1:9000' });
    // Well past the slow-start window, with a sane clock and traffic.
    for (let t = 1_000; t <= 60_000; t += 500) {
      clock.set(t);
      balancer.pick().release({ ok: true, latencyMs: 1 });
    }
    const snap = balancer.snapshot().instances.find((i) => i.id === 'new')!;
    expect(Number.isFinite(snap.effectiveWeight)).toBe(true);
    expect(snap.effectiveWeight).toBe(1);
    expect(snap.state).toBe('healthy');
  });
});

describe('a clock that throws or returns garbage after start-up', () => {
  it('keeps picking on the last good reading and warns once', () => {
    let now = 1_000;
    let bad: (() => number) | undefined;
    const clock = () => (bad !== undefined ? bad() : now);
    const warnings: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn(_obj: unknown, msg?: string) {
        warnings.push(msg ?? '');
      },
      error() {},
    };
    const balancer = createBalancer({ clock, logger, random: seededRandom(1), instances: pool(2) });
    for (const reading of [
      () => {
        throw new Error('clock hiccup');
      },
      () => Number.POSITIVE_INFINITY,
      () => 'soon' as unknown as number,
      () => -5,
    ]) {
      bad = reading;
      const lease = balancer.pick();
      lease.release({ ok: true });
    }
    bad = undefined;
    now = 2_000;
    balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(balancer.instances().map((i) => i.inflight)).toEqual([0, 0]);
    expect(warnings.filter((w) => w.includes('clock'))).toEqual([
      'ballast: the clock gave an invalid reading; using its last valid one',
    ]);
  });
});

describe('a clock below 0', () => {
  // The health model marks "not ejected" and "not ramping" with 0 and -1: from a clock at
  // -1 000 000 every instance read as ejected at the first maintenance tick, and a newcomer's
  // slow start never ended.
  it('is refused at creation, naming the clock and its reading', () => {
    expect(() => createBalancer({ clock: () => -1_000_000, instances: pool(3) })).toThrow(
      expect.objectContaining({
        code: 'BALLAST_INVALID_CONFIG',
        field: 'clock',
        message: expect.stringContaining('got -1000000') as unknown,
      }),
    );
  });
});
