// Inputs shared by the timing and memory processes of the pick benchmark. Everything the
// benchmark itself draws comes from a seeded generator, so every run feeds the balancer the same
// keys and latencies; the balancers keep their default Math.random, which is what users get.
import { seededRandom } from '@ballast/core';

import { KEYED } from './plan.mjs';

const KEY_COUNT = 4096;
const LATENCY_COUNT = 1024;

/** `n` instances with the weights `weight(i)`, on the URLs of `instanceUrls`. */
export function weightedInstances(n, weight) {
  return instanceUrls(n).map((url, i) => ({ url, weight: weight(i) }));
}

/** `n` distinct instance URLs, as discovery would hand them over. */
export function instanceUrls(n) {
  return Array.from(
    { length: n },
    (_, i) => `http://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`,
  );
}

/**
 * Pick contexts, cycled through by index (the count is a power of two, so `i & (length - 1)`):
 * for a keyed strategy 4096 user ids, precomputed so that building strings is not timed; for the
 * others a single `undefined`, i.e. `pick()`.
 */
export function pickContexts(strategy) {
  if (!KEYED.has(strategy)) return [undefined];
  const random = seededRandom(0x5eed);
  return Array.from({ length: KEY_COUNT }, () => ({
    key: `user-${Math.floor(random() * 2 ** 32).toString(36)}`,
  }));
}

/**
 * Outcomes that carry the latency, as the HTTP layer reports them, so the balancer skips its
 * second clock read. The latencies (2 to 42 ms, skewed toward fast) vary so that peak-EWMA takes
 * both its branches. Precomputed: allocating them is the caller's cost, not the balancer's.
 */
export function latencyOutcomes() {
  const random = seededRandom(0x1a7e);
  return Array.from({ length: LATENCY_COUNT }, () => {
    const r = random();
    return { ok: true, latencyMs: 2 + 40 * r * r };
  });
}

/** Outcomes without a latency: the balancer measures it with a second clock read. */
export function clockOutcomes() {
  return [{ ok: true }];
}
