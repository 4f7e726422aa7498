// Label values with quotes, backslashes, newlines and emoji still make valid exposition text.
import { createBalancer, seededRandom, type Balancer, type BalancerOptions } from '@ballast/core';
import { Registry } from 'prom-client';
import { collectMetrics } from '../src';
import { find, parseExposition } from './exposition';

function make(options: Partial<BalancerOptions> = {}): Balancer {
  let now = 0;
  return createBalancer({
    strategy: 'round-robin',
    clock: () => (now += 1),
    random: seededRandom(3),
    health: { slowStart: false },
    instances: [
      { id: 'a', url: 'http://10.0.0.1:3000' },
      { id: 'b', url: 'http://10.0.0.2:3000' },
    ],
    ...options,
  });
}

describe('exposition', () => {
  it('renders hostile service and instance ids as valid, round-tripping exposition text', async () => {
    const service = 'we"ird\\svc\nline2 ünï 🚀';
    const ids = ['q"uote', 'back\\slash', 'new\nline', 'ünïcødé-🚀', '{a="b"}', 'sp ace'];
    const b = make({
      service,
      instances: ids.map((id, i) => ({ id, url: `http://10.0.0.${i + 1}:3000` })),
    });
    const registry = new Registry();
    const detach = collectMetrics(b, { registry });
    for (let i = 0; i < ids.length * 2; i++) b.pick().release({ ok: i % 3 !== 0, latencyMs: 7 });
    const samples = parseExposition(await registry.metrics());
    for (const id of ids) {
      const total = find(samples, 'ballast_requests_total', { service, instance: id });
      expect(total.map((s) => s.value).reduce((x, y) => x + y, 0)).toBe(2);
      expect(
        find(samples, 'ballast_request_duration_seconds_count', { service, instance: id })[0]?.value,
      ).toBe(2);
      expect(find(samples, 'ballast_instance_health', { service, instance: id })).toHaveLength(1);
    }
    detach();
    b.close();
  });
});
