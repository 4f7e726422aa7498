import { createBalancer, seededRandom, type InstanceInput } from '../src';
import { manualClock, sequence } from './helpers';

const url = (i: number) => `http://127.0.0.1:${4000 + i}`;

function tiered(instances: InstanceInput[], extra: Record<string, unknown> = {}) {
  const clock = manualClock();
  const balancer = createBalancer({
    instances,
    strategy: 'round-robin',
    clock,
    random: seededRandom(7),
    health: { slowStart: false },
    ...extra,
  });
  const panics: boolean[] = [];
  balancer.on('panic', (e) => panics.push(e.active));
  return { balancer, clock, panics };
}

describe('panic announced by update()/add() that change the serving tier', () => {
  it('update() moving the unhealthy members of the serving tier away ends its panic at once', () => {
    const { balancer, panics } = tiered([
      { id: 'a', url: url(1) },
      { id: 'b', url: url(2) },
      { id: 'c', url: url(3) },
      { id: 'backup', url: url(4), priority: 1 },
    ]);
    balancer.reportCheck('b', false);
    balancer.reportCheck('c', false);
    // Tier 0: one healthy of three -> panic within the tier.
    expect(panics).toEqual([true]);
    balancer.update('b', { priority: 2 });
    balancer.update('c', { priority: 2 });
    // Tier 0 is now `a` alone, healthy: the panic is over, and every other pool-changing call
    // (remove, add, reportCheck, a failed release, discovery) announces that at once.
    expect(panics).toEqual([true, false]);
  });

  it('update() moving a healthy member into a tier of unhealthy ones starts a panic at once', () => {
    const { balancer, panics } = tiered([
      { id: 'a', url: url(1) },
      { id: 'b', url: url(2), priority: 1 },
      { id: 'c', url: url(3), priority: 1 },
      { id: 'd', url: url(4), priority: 1 },
    ]);
    balancer.reportCheck('b', false);
    balancer.reportCheck('c', false);
    balancer.reportCheck('d', false);
    expect(panics).toEqual([]);
    // a joins tier 1 alone among three unhealthy: one healthy of four.
    balancer.update('a', { priority: 1 });
    expect(panics).toEqual([true]);
  });

  it('add() of a healthy newcomer into a lower tier of unhealthy instances starts a panic at once', () => {
    const { balancer, panics } = tiered([
      { id: 'b', url: url(2) },
      { id: 'c', url: url(3) },
      { id: 'd', url: url(4) },
      { id: 'backup', url: url(5), priority: 1 },
    ]);
    balancer.reportCheck('b', false);
    balancer.reportCheck('c', false);
    balancer.reportCheck('d', false);
    // Tier 0 has no healthy instance: backup serves alone, no panic.
    expect(new Set(sequence(balancer, 4))).toEqual(new Set(['backup']));
    expect(balancer.snapshot().panic).toBe(false);
    panics.length = 0;
    balancer.add({ id: 'a', url: url(1), priority: 0 });
    // Tier 0 serves again with one healthy of four: panic, announced by add() itself
    // (balancer.ts add(): "A newcomer can end a panic ... but never start one").
    expect(panics).toEqual([true]);
    expect(balancer.snapshot().panic).toBe(true);
  });
});
