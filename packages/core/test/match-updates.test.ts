import { createBalancer, seededRandom, STRATEGY_NAMES, type InstanceInput } from '../src';
import { manualClock } from './helpers';

const url = (i: number) => `http://127.0.0.1:${5000 + i}`;

function make(
  instances: InstanceInput[],
  strategy: string = 'round-robin',
  health: Record<string, unknown> = {},
) {
  const clock = manualClock();
  const balancer = createBalancer({
    instances,
    strategy: strategy as never,
    clock,
    random: seededRandom(11),
    health: { slowStart: false, ...health },
  });
  return { balancer, clock };
}

function ids(balancer: ReturnType<typeof make>['balancer'], n: number, ctx: object): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < n; i++) {
    const lease = balancer.pick({ ...ctx, key: `k${i}` });
    out.add(lease.instance.id);
    lease.release({ ok: true, latencyMs: 1 });
  }
  return out;
}

describe('match sees the current zone/metadata and health', () => {
  it.each(STRATEGY_NAMES)('%s: update() of zone and metadata is seen by the next matched pick', (name) => {
    const { balancer } = make(
      [
        { id: 'a', url: url(1), zone: 'z1', metadata: { v: '1' } },
        { id: 'b', url: url(2), zone: 'z1', metadata: { v: '1' } },
        { id: 'c', url: url(3), zone: 'z2', metadata: { v: '2' } },
      ],
      name,
    );
    expect(ids(balancer, 20, { match: { zone: 'z1' } })).toEqual(new Set(['a', 'b']));
    expect(ids(balancer, 20, { match: { v: '2' } })).toEqual(new Set(['c']));
    const lease = balancer.pick({ match: { zone: 'z1' } });
    balancer.update('c', { zone: 'z1' });
    balancer.update('a', { metadata: { v: '2' } });
    lease.release({ ok: true, latencyMs: 1 });
    expect(ids(balancer, 30, { match: { zone: 'z1' } })).toEqual(new Set(['a', 'b', 'c']));
    expect(ids(balancer, 30, { match: { v: '2' } })).toEqual(new Set(['a', 'c']));
    expect(ids(balancer, 30, { match: { v: '1', zone: 'z1' } })).toEqual(new Set(['b']));
    expect(balancer.snapshot().instances.map((i) => i.inflight)).toEqual([0, 0, 0]);
  });
});
