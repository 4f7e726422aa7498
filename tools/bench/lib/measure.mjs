// A small timing harness for micro-benchmarks on a noisy machine.
//
// Every case runs in the same process and the same rounds as the others, so a burst of load from
// elsewhere hits all of them alike: absolute figures wobble from run to run, ratios between cases
// measured side by side much less. Hence the shape: calibrate each case to a fixed batch
// duration, warm up, then interleave the cases round by round and keep every round's figure; the
// caller reports medians and pairs rounds to compute ratios.
import process from 'node:process';

/**
 * @typedef {object} Case
 * @property {string} id
 * @property {(iterations: number) => void} run  performs `iterations` operations
 * @property {number} [settleIterations]  operations to run once before anything is timed
 */

/**
 * Measures `cases` and returns, per case id, the nanoseconds per operation of every round.
 *
 * @param {Case[]} cases
 * @param {{ roundMs: number, rounds: number, warmupRounds: number, cpuTime?: boolean }} settings
 *   `cpuTime`: time with the process's CPU time instead of the wall clock
 * @returns {Map<string, number[]>}
 */
export function measure(cases, { roundMs, rounds, warmupRounds, cpuTime = false }) {
  const time = cpuTime ? cpuTimeOf : wallTimeOf;
  // Settling first brings state that builds up lazily (objects migrating to their final shape,
  // tables built on first use) to its steady state, which a short calibration batch would
  // otherwise measure and scale from.
  for (const c of cases) c.run(c.settleIterations ?? 0);
  const plans = cases.map((c) => ({ ...c, iterations: calibrate(c.run, roundMs, time) }));
  // Warm-up rounds let every case reach its optimised code (and the others' feedback settle)
  // before anything is recorded.
  for (let r = 0; r < warmupRounds; r++) for (const plan of plans) nsPerOp(plan, time);
  const samples = new Map(plans.map((plan) => [plan.id, []]));
  for (let r = 0; r < rounds; r++) {
    // Rotating the order keeps any case from always following the same neighbour, whose garbage
    // and cache footprint it would otherwise inherit every round.
    for (let k = 0; k < plans.length; k++) {
      const plan = plans[(k + r) % plans.length];
      samples.get(plan.id).push(nsPerOp(plan, time));
    }
  }
  return samples;
}

/** Iterations that make one batch last about `roundMs`, found by doubling from a small batch. */
function calibrate(run, roundMs, time) {
  let iterations = 256;
  for (;;) {
    const elapsedMs = time(run, iterations) / 1e6;
    if (elapsedMs >= roundMs / 4) return Math.max(1, Math.round((iterations * roundMs) / elapsedMs));
    iterations *= 2;
  }
}

function nsPerOp(plan, time) {
  return time(plan.run, plan.iterations) / plan.iterations;
}

function wallTimeOf(run, iterations) {
  const start = process.hrtime.bigint();
  run(iterations);
  return Number(process.hrtime.bigint() - start);
}

/**
 * CPU time of this process, in ns (microsecond resolution): unlike wall time it does not count
 * the time other processes of a busy machine hold the cores, only what they do to the caches.
 */
function cpuTimeOf(run, iterations) {
  const start = process.cpuUsage();
  run(iterations);
  const { user, system } = process.cpuUsage(start);
  return (user + system) * 1000;
}

/** The value below which a fraction `q` of `values` lies (linear interpolation). */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  const high = Math.ceil(at);
  return sorted[low] + (sorted[high] - sorted[low]) * (at - low);
}

export function median(values) {
  return quantile(values, 0.5);
}

/** Spread of `values` as the interquartile range relative to the median. */
export function relativeSpread(values) {
  return (quantile(values, 0.75) - quantile(values, 0.25)) / median(values);
}

/**
 * Median of the round-by-round ratios a[i] / b[i]: pairing rounds cancels load that lasted a
 * round, which the ratio of two medians would not.
 */
export function pairedRatio(a, b) {
  return median(a.map((value, i) => value / b[i]));
}
