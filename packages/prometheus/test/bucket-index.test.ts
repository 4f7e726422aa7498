import { BucketIndex } from '../src/bucket-index';

/** The reference: the first bound the latency does not exceed (Prometheus `le`), else past the last. */
function linear(bounds: readonly number[], ms: number): number {
  const i = bounds.findIndex((bound) => ms <= bound);
  return i < 0 ? bounds.length : i;
}

describe('BucketIndex', () => {
  it.each([
    ['whole-ms bounds (table)', [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000]],
    ['fractional bounds (scan)', [0.5, 1.5, 4.25, 100]],
    ['bounds past the table (scan)', [100, 100_000]],
  ])('agrees with a linear search on every boundary and between them: %s', (_name, bounds) => {
    const index = new BucketIndex(bounds);
    const probes = [0, 0.0001, 1e-9, 120_000, Number.MAX_VALUE];
    for (const bound of bounds)
      probes.push(bound, bound - 1e-9, bound + 1e-9, bound - 0.5, bound + 0.5, bound - 1);
    for (const ms of probes.filter((p) => p >= 0))
      expect([ms, index.of(ms)]).toEqual([ms, linear(bounds, ms)]);
    expect(index.size).toBe(bounds.length);
  });
});
