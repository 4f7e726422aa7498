import { createBalancer, seededRandom, STRATEGY_NAMES } from '../src';
import { manualClock } from './helpers';

const url = (i: number) => `http://127.0.0.1:${6000 + i}`;

describe('remove() and re-add() of the same id with leases in flight', () => {
  it.each(STRATEGY_NAMES)('%s: draining and new member keep exact, separate in-flight counts', (name) => {
    const clock = manualClock();
    const balancer = createBalancer({
      instances: [
        { id: 'a', url: url(1) },
        { id: 'b', url: url(2) },
      ],
      strategy: name,
      clock,
      random: seededRandom(5),
      health: { slowStart: false },
    });
    const old = [balancer.pick({ exclude: ['b'] }), balancer.pick({ exclude: ['b'] })];
    expect(old.map((l) => l.instance.id)).toEqual(['a', 'a']);
    balancer.remove('a');
    const again = balancer.add({ id: 'a', url: url(1), weight: 2 });
    expect(balancer.get('a')).toBe(again);
    const fresh = balancer.pick({ exclude: ['b'] });
    expect(fresh.instance).toBe(again);
    expect(again.inflight).toBe(1);
    old[0]!.release({ ok: false, latencyMs: 1 });
    old[1]!.release({ ok: false, latencyMs: 1 });
    // The old leases settle on the draining member, not on the new one.
    expect(again.inflight).toBe(1);
    expect(again.failures).toBe(0);
    const snap = balancer.snapshot();
    expect(snap.instances.map((i) => [i.id, i.state, i.inflight])).toEqual([
      ['b', 'healthy', 0],
      ['a', 'healthy', 1],
    ]);
    fresh.release({ ok: true, latencyMs: 1 });
    for (let i = 0; i < 20; i++) balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(balancer.snapshot().instances.map((i) => i.inflight)).toEqual([0, 0]);
    expect(JSON.parse(JSON.stringify(balancer.snapshot()))).toEqual(balancer.snapshot());
  });
});
