// Counts that must not be lost: a lease released after close(), a registry cleared under the hub.
import { createBalancer, seededRandom, type Balancer, type BalancerOptions } from '@ballast/core';
import { Registry } from 'prom-client';
import { collectMetrics } from '../src';

function balancer(options: Partial<BalancerOptions> = {}): Balancer {
  let now = 0;
  return createBalancer({
    strategy: 'round-robin',
    clock: () => (now += 1),
    random: seededRandom(1),
    health: { slowStart: false },
    instances: [
      { id: 'a', url: 'http://10.0.0.1:3000' },
      { id: 'b', url: 'http://10.0.0.2:3000' },
    ],
    ...options,
  });
}

/** Value of the sample `name{labels}` in the text exposition (undefined when absent). */
async function sample(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const text = await registry.metrics();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    const found: Record<string, string> = {};
    for (const m of body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found[m[1]!] = m[2]!;
    if (Object.entries(labels).every(([k, v]) => found[k] === v))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('@ballast/prometheus counters', () => {
  it('counts a lease released after balancer.close() (issue 6: "counted when a lease is released")', async () => {
    const users = balancer({ service: 'users' });
    const registry = new Registry();
    collectMetrics(users, { registry });
    // A request in flight at a graceful shutdown / reload.
    const lease = users.pick({ exclude: ['b'] });
    users.close();
    lease.release({ ok: true, latencyMs: 5 });
    // The balancer saw the release (in-flight back to 0) ...
    expect(users.get('a')!.inflight).toBe(0);
    expect(await sample(registry, 'ballast_inflight_requests', { service: 'users', instance: 'a' })).toBe(0);
    // ... but the request is not counted anywhere.
    expect(
      await sample(registry, 'ballast_requests_total', {
        service: 'users',
        instance: 'a',
        outcome: 'success',
      }),
    ).toBe(1);
    expect(
      await sample(registry, 'ballast_request_duration_seconds_count', { service: 'users', instance: 'a' }),
    ).toBe(1);
  });

  it('registers the metrics again after registry.clear() (get or create, not get a stale hub)', async () => {
    const users = balancer({ service: 'users' });
    const registry = new Registry();
    const first = collectMetrics(users, { registry });
    first();
    // A user resets the registry (prom-client's documented clear()), then collects again.
    registry.clear();
    collectMetrics(users, { registry });
    users.pick().release({ ok: true, latencyMs: 1 });
    expect(registry.getSingleMetric('ballast_requests_total')).toBeDefined();
    expect(await sample(registry, 'ballast_instances', { service: 'users', state: 'healthy' })).toBe(2);
  });
});
