// What the pick benchmark measures and the targets it checks (from the issue). Kept apart from
// fixtures.mjs, which needs @ballast/core, so the parent can read it before the core is built.

/** Pool sizes of the issue: a toy pool, a service, a large fleet, and the no-O(n)-per-pick check. */
export const SIZES = [3, 100, 1_000, 10_000];
/** The size at which the variants (leases in flight, clock read on release) are measured. */
export const VARIANT_SIZE = 1_000;
/**
 * The unequal-weights variant: a large pool with weights 1 to 4. The headline figures use equal
 * weights; this one measures the weighted paths: least-connections and weighted-round-robin by
 * weight class (O(1) per pick for up to 8 distinct weights), the alias table of `random`, and
 * the weights in the power-of-two and peak-EWMA costs.
 */
export const UNEQUAL = { size: 10_000, weight: (i) => 1 + (i % 4), label: 'weights 1 to 4' };
/** Leases held at once in the in-flight variant: load-aware strategies then see uneven counts. */
export const IN_FLIGHT = 8;
/** Strategies whose pick needs `ctx.key`; the others are picked without a context. */
export const KEYED = new Set(['consistent-hash']);
/** Strategies also measured with the balancer reading the clock again on release. */
export const CLOCK_IN_RELEASE = new Set(['round-robin', 'power-of-two']);
/** The strategy every other one is compared with, side by side in its process. */
export const REFERENCE = 'round-robin';
/**
 * Picks run before timing a pool, to reach its steady state: each instance object changes shape
 * the first time it serves (its latency fields turn from small integers into doubles) and V8
 * migrates objects one by one as they are touched; on 10,000 instances drawn at random that
 * takes about 100,000 picks, during which a pick costs several times its steady figure.
 */
export const SETTLE = { minPicks: 50_000, picksPerInstance: 20 };
/** Pool size of the memory reading. */
export const MEMORY_SIZE = 10_000;

export const TARGETS = {
  /** The cheap strategies at a typical large pool. */
  fast: {
    limitNs: 150,
    size: 1_000,
    strategies: new Set(['round-robin', 'power-of-two', 'peak-ewma', 'random']),
  },
  /** Every strategy on a very large pool: no O(n) scan per pick. */
  large: { limitNs: 400, size: 10_000 },
  memory: { limitBytes: 1024 },
};
