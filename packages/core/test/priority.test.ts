import { createBalancer, InvalidConfigError, seededRandom, STRATEGY_NAMES, type InstanceInput } from '../src';
import { manualClock, sequence } from './helpers';

const tiered: InstanceInput[] = [
  { id: 'a', url: 'http://127.0.0.1:3001' },
  { id: 'b', url: 'http://127.0.0.1:3002', priority: 0 },
  { id: 'c', url: 'http://127.0.0.1:3003', priority: 1 },
  { id: 'd', url: 'http://127.0.0.1:3004', priority: 2 },
];

function balancerWithTiers(strategy: (typeof STRATEGY_NAMES)[number] = 'round-robin') {
  const clock = manualClock();
  const balancer = createBalancer({
    instances: tiered,
    strategy,
    clock,
    random: seededRandom(3),
    // Panic would spread over a whole tier's unhealthy members; these tests are about tiers.
    health: { panicThreshold: 0 },
  });
  return { balancer, clock };
}

describe('priority tiers', () => {
  it.each(STRATEGY_NAMES)('%s picks only from the lowest tier while it has a healthy instance', (name) => {
    const { balancer } = balancerWithTiers(name);
    const ids = sequence(balancer, 200, (i) => `user-${i}`);
    expect(new Set(ids)).toEqual(new Set(['a', 'b']));
  });

  it('moves to the next tier only when the lower one has no healthy instance, and back when one recovers', () => {
    const { balancer } = balancerWithTiers();
    balancer.reportCheck('a', false);
    expect(new Set(sequence(balancer, 10))).toEqual(new Set(['b']));
    balancer.reportCheck('b', false);
    expect(new Set(sequence(balancer, 10))).toEqual(new Set(['c']));
    balancer.reportCheck('c', false);
    expect(new Set(sequence(balancer, 10))).toEqual(new Set(['d']));
    balancer.reportCheck('b', true);
    // Back to tier 0 (b is slow-starting: it is still the only healthy instance of tier 0).
    expect(new Set(sequence(balancer, 10))).toEqual(new Set(['b']));
    expect(balancer.snapshot().instances.map((i) => [i.id, i.priority])).toEqual([
      ['a', 0],
      ['b', 0],
      ['c', 1],
      ['d', 2],
    ]);
  });

  it('with no healthy instance in any tier, balances over all of them (panic) rather than failing', () => {
    const clock = manualClock();
    const balancer = createBalancer({ instances: tiered, strategy: 'round-robin', clock });
    for (const id of ['a', 'b', 'c', 'd']) balancer.reportCheck(id, false);
    expect(new Set(sequence(balancer, 40))).toEqual(new Set(['a', 'b', 'c', 'd']));
    expect(balancer.snapshot().panic).toBe(true);
  });

  it('panic applies within the serving tier: a tier with one healthy instance of three keeps serving', () => {
    const balancer = createBalancer({
      strategy: 'round-robin',
      clock: manualClock(),
      instances: [
        { id: 'a', url: 'http://127.0.0.1:3001' },
        { id: 'b', url: 'http://127.0.0.1:3002' },
        { id: 'c', url: 'http://127.0.0.1:3003' },
        { id: 'backup', url: 'http://127.0.0.1:3004', priority: 1 },
      ],
    });
    balancer.reportCheck('b', false);
    balancer.reportCheck('c', false);
    expect(new Set(sequence(balancer, 30))).toEqual(new Set(['a', 'b', 'c']));
    expect(balancer.snapshot().panic).toBe(true);
    balancer.reportCheck('a', false);
    expect(new Set(sequence(balancer, 10))).toEqual(new Set(['backup']));
    expect(balancer.snapshot().panic).toBe(false);
  });

  it('update() and add() move instances between tiers', () => {
    const { balancer } = balancerWithTiers();
    balancer.update('a', { priority: 3 });
    balancer.update('b', { priority: 3 });
    expect(new Set(sequence(balancer, 10))).toEqual(new Set(['c']));
    balancer.add({ id: 'e', url: 'http://127.0.0.1:3005', priority: 0 });
    expect(new Set(sequence(balancer, 10))).toEqual(new Set(['e']));
  });

  it.each([-1, 1.5, 65_536, Number.NaN, '0'])('rejects priority %p naming the field', (priority) => {
    expect(() => createBalancer({ instances: [{ url: 'http://a.test', priority } as never] })).toThrow(
      expect.objectContaining({ field: 'instances[0].priority' }) as InvalidConfigError,
    );
  });
});
