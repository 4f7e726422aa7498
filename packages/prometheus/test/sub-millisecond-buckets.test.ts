// histogram buckets are in seconds, and every valid (increasing, positive) bucket list is honoured.
import { createBalancer, seededRandom } from '@ballast/core';
import { Registry } from 'prom-client';
import { collectMetrics } from '../src';

async function buckets(registry: Registry, instance: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await registry.metrics()).split('\n')) {
    const m = /^ballast_request_duration_seconds_bucket\{(.*)\} (\S+)$/.exec(line);
    if (m === null || !m[1]!.includes(`instance="${instance}"`)) continue;
    out.set(/le="([^"]+)"/.exec(m[1]!)![1]!, Number(m[2]));
  }
  return out;
}

describe('histogram buckets', () => {
  it('puts a latency in the first bucket whose bound (in seconds) it does not exceed, for sub-millisecond buckets too', async () => {
    const b = createBalancer({
      service: 'fast',
      strategy: 'round-robin',
      clock: () => 0,
      random: seededRandom(1),
      instances: [{ id: 'a', url: 'http://10.0.0.1:3000' }],
    });
    const registry = new Registry();
    // 0.4 µs, 0.8 µs, 1 ms: increasing positive seconds, accepted by validation.
    collectMetrics(b, { registry, buckets: [0.0000004, 0.0000008, 0.001] });
    b.pick().release({ ok: true, latencyMs: 0.0003 }); // 0.3 µs
    b.pick().release({ ok: true, latencyMs: 0.0006 }); // 0.6 µs
    const got = await buckets(registry, 'a');
    expect(Object.fromEntries(got)).toEqual({ '4e-7': 1, '8e-7': 2, '0.001': 2, '+Inf': 2 });
  });
});
