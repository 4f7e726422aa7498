import { createBalancer, seededRandom, type Balancer, type DiscoverySink } from '../src';
import { manualClock, pool, sequence, testBalancer } from './helpers';

function failOn(balancer: Balancer, id: string, times: number, latencyMs: number | undefined = 0): void {
  const others = balancer
    .instances()
    .filter((m) => m.id !== id)
    .map((m) => m.id);
  for (let i = 0; i < times; i++) balancer.pick({ exclude: others }).release({ ok: false, latencyMs });
}

describe('eject and restore listeners see a consistent state', () => {
  /**
   * A balancer of three whose `event` listener records the instance's state as the event and
   * the snapshot give it, then picks three times; i1 is ejected by five failures.
   */
  function watch(event: 'eject' | 'restore') {
    const { balancer } = testBalancer({
      strategy: 'round-robin',
      instances: pool(3),
      health: { slowStart: false },
    });
    const seen: string[] = [];
    balancer.on(event, (e) => {
      seen.push(`event ${e.instance.state}`);
      seen.push(`snapshot ${balancer.snapshot().instances.find((i) => i.id === e.instance.id)!.state}`);
      for (let i = 0; i < 3; i++) {
        const lease = balancer.pick();
        seen.push(`picked ${lease.instance.id}`);
        lease.release({ ok: true, latencyMs: 1 });
      }
    });
    failOn(balancer, 'i1', 5);
    return { balancer, seen };
  }

  it('inside an eject listener the instance is already ejected (get, snapshot) and not picked', () => {
    const { balancer, seen } = watch('eject');
    expect(balancer.get('i1')!.state).toBe('ejected');
    expect(seen.slice(0, 2)).toEqual(['event ejected', 'snapshot ejected']);
    expect(seen).not.toContain('picked i1');
  });

  it('inside a restore listener (check passed) the instance is no longer ejected and can be picked', () => {
    const { balancer, seen } = watch('restore');
    balancer.reportCheck('i1', true);
    expect(balancer.get('i1')!.state).toBe('healthy');
    expect(seen.slice(0, 2)).toEqual(['event healthy', 'snapshot healthy']);
    expect(seen).toContain('picked i1');
  });
});

describe('probation', () => {
  it('a newcomer that went unhealthy during its slow start is on probation when it comes back', () => {
    const clock = manualClock(1_000);
    const balancer = createBalancer({
      clock,
      random: seededRandom(1),
      strategy: 'round-robin',
      instances: pool(3),
      // Ejection by consecutive failures off, so only probation can eject.
      health: { slowStart: { windowMs: 60_000 }, outlier: { consecutiveFailures: 0 } },
    });
    const ejects: string[] = [];
    balancer.on('eject', (e) => ejects.push(`${e.instance.id} ${e.reason}`));
    const added = balancer.add({ id: 'new', url: 'http://127.0.0.1:9000' });
    failOn(balancer, 'new', 7);
    expect(added.state).toBe('unhealthy');
    // Idle recovery brings it back inside its 60 s window.
    clock.set(21_000);
    balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(added.state).not.toBe('unhealthy');
    // Back from a low score: one failure on probation ejects it, as for an instance that was
    // healthy before (see the next test).
    failOn(balancer, 'new', 1);
    expect(ejects).toEqual(['new failed-on-probation']);
  });

  it('control: an instance that was healthy before is on probation after the same fall and recovery', () => {
    const clock = manualClock(1_000);
    const balancer = createBalancer({
      clock,
      random: seededRandom(1),
      strategy: 'round-robin',
      instances: pool(4),
      health: { slowStart: { windowMs: 60_000 }, outlier: { consecutiveFailures: 0 } },
    });
    const ejects: string[] = [];
    balancer.on('eject', (e) => ejects.push(`${e.instance.id} ${e.reason}`));
    failOn(balancer, 'i3', 7);
    clock.set(21_000);
    balancer.pick().release({ ok: true, latencyMs: 1 });
    failOn(balancer, 'i3', 1);
    expect(ejects).toEqual(['i3 failed-on-probation']);
  });
});

describe('panic is announced by every call that changes the pool', () => {
  it('remove() that leaves too few healthy instances emits panic at once, not at the next pick', () => {
    const { balancer } = testBalancer({ instances: pool(4), health: { slowStart: false } });
    const panics: boolean[] = [];
    balancer.on('panic', (e) => panics.push(e.active));
    balancer.reportCheck('i0', false);
    balancer.reportCheck('i1', false);
    // Two of four healthy: 50 %, not below the threshold.
    expect(panics).toEqual([]);
    balancer.remove('i2');
    // One of three healthy.
    expect(panics).toEqual([true]);
  });

  it('a failed release that takes too many instances out emits panic at once, not at the next pick', () => {
    const { balancer } = testBalancer({
      strategy: 'round-robin',
      instances: pool(3),
      health: { slowStart: false, outlier: false },
    });
    const panics: boolean[] = [];
    balancer.on('panic', (e) => panics.push(e.active));
    balancer.reportCheck('i0', false);
    expect(panics).toEqual([]);
    // Seven failures take i1 below the threshold: one of three healthy.
    const leases = Array.from({ length: 7 }, () => balancer.pick({ exclude: ['i0', 'i2'] }));
    for (const lease of leases) lease.release({ ok: false, latencyMs: 1 });
    expect(balancer.get('i1')!.state).toBe('unhealthy');
    expect(panics).toEqual([true]);
  });

  it('a discovery list that leaves too few healthy instances emits panic at once', () => {
    let sink: DiscoverySink | undefined;
    const { balancer } = testBalancer({
      instances: [],
      discovery: {
        name: 'manual',
        subscribe(s) {
          sink = s;
          return () => {};
        },
      },
      health: { slowStart: false },
    });
    const list = pool(4);
    sink!.update(list);
    const panics: boolean[] = [];
    balancer.on('panic', (e) => panics.push(e.active));
    balancer.reportCheck('i0', false);
    balancer.reportCheck('i1', false);
    expect(panics).toEqual([]);
    sink!.update(list.slice(0, 3));
    expect(panics).toEqual([true]);
  });

  it('add() that brings enough healthy instances back ends panic at once', () => {
    const { balancer } = testBalancer({ instances: pool(3), health: { slowStart: false } });
    const panics: boolean[] = [];
    balancer.on('panic', (e) => panics.push(e.active));
    balancer.reportCheck('i0', false);
    balancer.reportCheck('i1', false);
    expect(panics).toEqual([true]);
    balancer.add({ id: 'a', url: 'http://127.0.0.1:9001' });
    balancer.add({ id: 'b', url: 'http://127.0.0.1:9002' });
    expect(panics).toEqual([true, false]);
  });
});

describe('server-reported load under light traffic', () => {
  it('a fresh utilization report keeps weighing an instance when it is not hit every second', () => {
    // Two instances report utilization 0.9 and 0.3 on every response, well within expiry; with
    // one request a second in all, each is hit every 2 s. The reports are fresh; the weights
    // should reflect them (i1 about 3x i0), not fall back to the configured 1:1.
    const { balancer, clock } = testBalancer({
      strategy: 'round-robin',
      instances: pool(2),
      health: { slowStart: false, load: { blackoutMs: 0 } },
    });
    const ratios: number[] = [];
    for (let t = 0; t < 20_000; t += 1_000) {
      clock.set(t);
      const lease = balancer.pick();
      lease.release({ ok: true, latencyMs: 1, load: lease.instance.id === 'i0' ? 0.9 : 0.3 });
      if (t >= 10_000) ratios.push(balancer.get('i1')!.effectiveWeight / balancer.get('i0')!.effectiveWeight);
    }
    expect(Math.max(...ratios)).toBeGreaterThan(1.5);
  });
});

describe('a failed active check takes an instance out whatever the threshold', () => {
  it('with threshold 0 an instance its own health endpoint calls down gets no traffic', () => {
    // model.ts: "check is ... 0: an instance its own health endpoint calls down gets no traffic."
    const { balancer } = testBalancer({
      strategy: 'round-robin',
      instances: pool(3),
      health: { slowStart: false, threshold: 0 },
    });
    balancer.reportCheck('i1', false);
    expect(balancer.get('i1')!.health).toBe(0);
    expect(sequence(balancer, 9)).not.toContain('i1');
  });
});
