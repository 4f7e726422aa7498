/**
 * Options and registry operations at their edges: option arrays with holes (a `[0.1, , 0.5]`
 * typo), which some() and forEach() skip, bucket bounds that are not on the µs grid, and
 * `registry.resetMetrics()`.
 */
import { createBalancer, seededRandom, type Balancer } from '@ballast/core';
import { exponentialBuckets, Registry } from 'prom-client';
import { collectMetrics } from '../src';
import { parseExposition, sampleValue } from './exposition';

function oneInstance(): Balancer {
  return createBalancer({
    service: 's',
    strategy: 'round-robin',
    random: seededRandom(1),
    instances: [{ id: 'a', url: 'http://10.0.0.1:3000', metadata: { zone: 'eu' } }],
  });
}

describe('option arrays with a hole', () => {
  // Accepted, the hole broke every scrape after the first release (label "undefined"), or was
  // rendered as le="undefined".
  it.each([
    // eslint-disable-next-line no-sparse-arrays
    ['metadataLabels', { metadataLabels: [, 'zone'] as unknown as string[] }, 'metadataLabels[0]'],
    // eslint-disable-next-line no-sparse-arrays
    ['buckets', { buckets: [0.1, , 0.5] as unknown as number[] }, 'buckets'],
  ])('%s is refused, naming %s', (_name, options, field) => {
    expect(() => collectMetrics(oneInstance(), { registry: new Registry(), ...options })).toThrow(
      expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field }),
    );
  });
});

describe('bucket bounds off the µs grid', () => {
  // A bound is snapped to the µs only within float rounding of it: a tolerance relative to the
  // bound moved long bounds, and a latency just under one counted in the bucket above.
  async function bucketsOf(buckets: number[], latencyMs: number): Promise<Record<string, number>> {
    const b = oneInstance();
    const registry = new Registry();
    collectMetrics(b, { registry, buckets });
    b.pick().release({ ok: true, latencyMs });
    const samples = parseExposition(await registry.metrics());
    const out: Record<string, number> = {};
    for (const le of [...buckets.map(String), '+Inf'])
      out[le] = sampleValue(samples, 'ballast_request_duration_seconds_bucket', { le })!;
    return out;
  }

  it('counts a latency 0.1 µs under a 600.0000004 s bound in that bucket', async () => {
    expect(await bucketsOf([1, 600.0000004], 600_000.0003)).toEqual({ '1': 0, '600.0000004': 1, '+Inf': 1 });
  });

  it("counts a latency under a bound of prom-client's exponentialBuckets(1, 1.7, 20) in that bucket", async () => {
    const buckets = exponentialBuckets(1, 1.7, 20);
    const bound = buckets[10]!; // 201.5993900448999 s
    const latencyMs = 201_599.39004; // under the bound, over 201 599.39 ms
    expect(latencyMs / 1000).toBeLessThan(bound);
    expect(latencyMs / 1000).toBeGreaterThan(buckets[9]!);
    const got = await bucketsOf(buckets, latencyMs);
    expect([got[String(buckets[9])], got[String(bound)]]).toEqual([0, 1]);
  });
});

it('registry.resetMetrics() drops the retries and no-instance picks counted before it, as it drops requests', async () => {
  // They waited for the next scrape, and were handed to prom-client's counters after their reset.
  const b = oneInstance();
  const registry = new Registry();
  collectMetrics(b, { registry });
  b.pick().release({ ok: true, latencyMs: 1 });
  b.pick({ retry: true }).release({ ok: true, latencyMs: 1 });
  expect(() => b.pick({ exclude: ['a'] })).toThrow();
  registry.resetMetrics();
  const samples = parseExposition(await registry.metrics());
  const s = { service: 's' };
  expect(sampleValue(samples, 'ballast_requests_total', { ...s, outcome: 'success' })).toBe(0);
  expect(sampleValue(samples, 'ballast_request_duration_seconds_count', s)).toBe(0);
  expect({
    retries: sampleValue(samples, 'ballast_retries_total', s),
    noInstance: sampleValue(samples, 'ballast_no_instance_total', s),
  }).toEqual({ retries: 0, noInstance: 0 });
});
