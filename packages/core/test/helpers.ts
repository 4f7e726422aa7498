import {
  createBalancer,
  seededRandom,
  type Balancer,
  type BalancerEventName,
  type BalancerOptions,
  type InstanceInput,
} from '../src';

/** A clock the test moves by hand. */
/** The balancer's events about its instances, health and strategy, for listeners on all of them. */
export const STATE_EVENTS: readonly BalancerEventName[] = [
  'pick',
  'release',
  'instance-added',
  'instance-removed',
  'instance-updated',
  'health-change',
  'eject',
  'restore',
  'panic',
  'strategy-change',
];

export function manualClock(start = 0): { (): number; advance(ms: number): void; set(ms: number): void } {
  let now = start;
  const clock = () => now;
  clock.advance = (ms: number) => {
    now += ms;
  };
  clock.set = (ms: number) => {
    now = ms;
  };
  return clock;
}

/** `n` instances with ids i0, i1, ... and the given weights (default 1). */
export function pool(n: number, weight: (i: number) => number = () => 1): InstanceInput[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `i${i}`,
    url: `http://127.0.0.1:${10_000 + i}`,
    weight: weight(i),
  }));
}

/** A balancer with a seeded random and a manual clock, for deterministic tests. */
export function testBalancer(options: Partial<BalancerOptions> & { seed?: number } = {}) {
  const clock = manualClock();
  const { seed = 42, ...rest } = options;
  const balancer = createBalancer({ clock, random: seededRandom(seed), instances: pool(3), ...rest });
  return { balancer, clock };
}

/** Picks and releases at once, `n` times; returns the ids in order. */
export function sequence(balancer: Balancer, n: number, key?: (i: number) => string): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const lease = balancer.pick(key ? { key: key(i) } : undefined);
    ids.push(lease.instance.id);
    lease.release({ ok: true, latencyMs: 1 });
  }
  return ids;
}

/** Share of each id in `ids`, in percent. */
export function shares(ids: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const id of ids) counts[id] = (counts[id] ?? 0) + 1;
  for (const id of Object.keys(counts)) counts[id] = (100 * counts[id]!) / ids.length;
  return counts;
}
