/**
 * Listeners that remove instances while the balancer is in the middle of something: a release
 * (the health model's listener runs before the release is done) or a maintenance tick (which
 * goes on over the member list it started with). Nothing may be reported about, or done to, an
 * instance that is gone, and a freed slot must not be reported as the old instance's.
 */
import { createBalancer, seededRandom, type BalancerEvents, type Instance } from '../src';
import { manualClock } from './helpers';

const url = (i: number) => `http://127.0.0.1:${7100 + i}`;

it('a release observer never gets a slot that belongs to another live instance', () => {
  const balancer = createBalancer({
    instances: ['a', 'b', 'c', 'd'].map((id, i) => ({ id, url: url(i) })),
    strategy: 'least-connections',
    clock: manualClock(),
    random: seededRandom(1),
    health: { outlier: false, slowStart: false },
  });
  const slotOf = (i: Instance) => (i as Instance & { slot: number }).slot;
  const clashes: string[] = [];
  balancer.observeReleases((instance, _ok, slot) => {
    for (const other of balancer.instances())
      if (other !== instance && slotOf(other) === slot)
        clashes.push(`${instance.id} reported in ${other.id}'s slot ${slot}`);
  });
  balancer.on('health-change', (e) => {
    if (e.instance.id === 'a' && e.to === 'unhealthy') {
      balancer.remove('a');
      balancer.add({ id: 'a2', url: url(19) });
    }
  });
  for (let k = 0; k < 7; k++)
    balancer.pick({ exclude: ['b', 'c', 'd'] }).release({ ok: false, latencyMs: 1 });
  expect(balancer.get('a')).toBeUndefined();
  expect(clashes).toEqual([]);
});

describe('maintenance tick and a listener that removes an instance', () => {
  it('emits no health-change for an instance removed earlier in the same tick (slow start ending)', () => {
    const clock = manualClock();
    const balancer = createBalancer({
      instances: [{ id: 'a', url: url(0) }],
      strategy: 'round-robin',
      clock,
      random: seededRandom(1),
      health: { slowStart: { windowMs: 2_000 } },
    });
    balancer.add({ id: 'b', url: url(1) });
    balancer.add({ id: 'c', url: url(2) });
    expect(balancer.get('b')!.state).toBe('slow-start');
    expect(balancer.get('c')!.state).toBe('slow-start');
    const changes: BalancerEvents['health-change'][] = [];
    balancer.on('health-change', (e) => {
      changes.push(e);
      if (e.instance.id === 'b') balancer.remove('c');
    });
    clock.advance(5_000);
    balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(balancer.get('c')).toBeUndefined();
    // Each health-change is about an instance the balancer still has.
    expect(
      changes.map((e) => [e.instance.id, e.from, e.to, balancer.get(e.instance.id) === e.instance]),
    ).toEqual([['b', 'slow-start', 'healthy', true]]);
  });

  it('emits no health-change for an instance removed earlier in the same tick (idle recovery)', () => {
    const clock = manualClock();
    const ids = ['a', 'b', 'c', 'd'];
    const balancer = createBalancer({
      instances: ids.map((id, i) => ({ id, url: url(i) })),
      strategy: 'round-robin',
      clock,
      random: seededRandom(1),
      health: { outlier: false, slowStart: false },
    });
    for (const id of ['a', 'b'])
      for (let k = 0; k < 7; k++)
        balancer.pick({ exclude: ids.filter((x) => x !== id) }).release({ ok: false, latencyMs: 1 });
    expect([balancer.get('a')!.state, balancer.get('b')!.state]).toEqual(['unhealthy', 'unhealthy']);
    const changes: string[] = [];
    balancer.on('health-change', (e) => {
      changes.push(`${e.instance.id}:${e.from}->${e.to}`);
      if (e.instance.id === 'a') balancer.remove('b');
    });
    clock.advance(5_000);
    balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(changes).toEqual(['a:unhealthy->healthy']);
  });
});

it('a pick made by a panic listener inside a pick does not lend that pick its key or subset', () => {
  // The outer pick's rebuild of the pool announces the panic's end; the listener picks with a
  // key and a match, and the outer pick, with neither, must not see them.
  const clock = manualClock();
  const seen: (string | undefined)[] = [];
  const balancer = createBalancer({
    instances: ['a', 'b', 'c'].map((id, i) => ({ id, url: url(i), zone: id })),
    strategy: { name: 'record', pick: (candidates, ctx) => (seen.push(ctx.key), candidates[0]) },
    clock,
    health: { outlier: { maxEjectionPercent: 100 }, slowStart: false },
  });
  balancer.eject('a', 'test');
  balancer.eject('b', 'test');
  const panics: boolean[] = [];
  balancer.on('panic', (e) => {
    panics.push(e.active);
    if (!e.active) balancer.pick({ key: 'inner', match: { zone: 'c' } }).release({ ok: true, latencyMs: 1 });
  });
  clock.advance(10 * 60_000); // every ejection is over
  seen.length = 0;
  balancer.pick().release({ ok: true, latencyMs: 1 });
  expect(panics).toEqual([false]);
  expect(seen).toEqual(['inner', undefined]);
});
