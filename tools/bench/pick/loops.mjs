// The timed loop of the pick benchmarks, shared by time-strategy.mjs and the metrics benchmark.

/** Where leases escape to, as they do into a request's scope (see time-strategy.mjs for why). */
const escaped = [undefined];

/** One pick and its release per iteration, as the HTTP layer does for each request. */
export function pickRelease(balancer, contexts, outcomes, iterations) {
  const contextMask = contexts.length - 1;
  const outcomeMask = outcomes.length - 1;
  for (let i = 0; i < iterations; i++) {
    const lease = balancer.pick(contexts[i & contextMask]);
    escaped[0] = lease;
    lease.release(outcomes[i & outcomeMask]);
  }
}
