/** A source of uniform random numbers in [0, 1). Inject a seeded one for reproducible runs. */
export type Random = () => number;

/** The default source: `Math.random`. */
export const defaultRandom: Random = Math.random;

/**
 * A small seeded generator (mulberry32) for tests, the simulator and benchmarks: fast,
 * 32-bit state, good enough statistical quality for load balancing, and reproducible.
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
