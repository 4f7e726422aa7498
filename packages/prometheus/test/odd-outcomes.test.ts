// Odd release outcomes are counted as core counts them, and the text stays valid.
import { createBalancer, seededRandom } from '@ballast/core';
import { Registry } from 'prom-client';
import { collectMetrics } from '../src';
import { parseExposition, sampleValue } from './exposition';

describe('odd latencies and outcomes', () => {
  it('NaN, ±Infinity and negative latencies are measured by the clock; requests_total matches snapshot()', async () => {
    let now = 0;
    const b = createBalancer({
      service: 's',
      strategy: 'round-robin',
      clock: () => now,
      random: seededRandom(1),
      instances: [{ id: 'a', url: 'http://10.0.0.1:3000' }],
    });
    const registry = new Registry();
    collectMetrics(b, { registry, buckets: [0.005, 0.007, 0.01] });
    for (const latencyMs of [Number.NaN, -5, Infinity, -Infinity]) {
      const lease = b.pick();
      now += 7;
      lease.release({ ok: true, latencyMs });
    }
    b.pick().release({ ok: true, latencyMs: -0 });
    // Released twice: counted once. Released with nothing / an outcome whose getter throws: a failure.
    const twice = b.pick();
    twice.release({ ok: true, latencyMs: 7 });
    twice.release({ ok: true, latencyMs: 7 });
    b.pick().release(undefined as never);
    b.pick().release({
      get ok(): boolean {
        throw new Error('bad getter');
      },
    } as never);
    const samples = parseExposition(await registry.metrics());
    const a = { service: 's', instance: 'a' };
    const snap = b.snapshot().instances[0]!;
    expect(sampleValue(samples, 'ballast_requests_total', { ...a, outcome: 'success' })).toBe(
      snap.requests - snap.failures,
    );
    expect(sampleValue(samples, 'ballast_requests_total', { ...a, outcome: 'failure' })).toBe(snap.failures);
    expect([snap.requests, snap.failures]).toEqual([8, 2]);
    expect(sampleValue(samples, 'ballast_request_duration_seconds_count', a)).toBe(8);
    expect(sampleValue(samples, 'ballast_request_duration_seconds_bucket', { ...a, le: '0.005' })).toBe(3);
    expect(sampleValue(samples, 'ballast_request_duration_seconds_bucket', { ...a, le: '0.007' })).toBe(8);
    expect(sampleValue(samples, 'ballast_request_duration_seconds_sum', a)).toBeCloseTo(0.035, 9);
  });
});
