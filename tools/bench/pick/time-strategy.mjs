// Child process of the pick benchmark: times one strategy at every pool size, side by side with
// the round-robin reference and a bare clock read, and prints the samples as JSON on stdout.
//
// Why one process per strategy: a user runs one strategy, so the balancer's call into it is
// monomorphic and V8 inlines it. All strategies in one process make that call site megamorphic
// and add tens of nanoseconds to every one of them (we measured +40% on round-robin), a cost of
// the benchmark, not of the library. The reference shares the process to give an honest ratio; it
// makes the call site only polymorphic (two classes), which V8 still inlines.
//
// Why the leases are stored: in a server the lease outlives the call (it is held across an
// await). A loop that drops it lets TurboFan inline pick() and release() and delete the lease
// allocation by escape analysis, measuring code no server runs. Keeping the loops out of the
// optimiser instead would add some 50 ns of interpreter overhead per iteration.
//
// Usage: node time-strategy.mjs <strategy> '{"roundMs":10,"rounds":10,"warmupRounds":2}'
import process from 'node:process';

import { createBalancer } from '@ballast/core';

import { measure } from '../lib/measure.mjs';
import {
  clockOutcomes,
  instanceUrls,
  latencyOutcomes,
  pickContexts,
  weightedInstances,
} from './fixtures.mjs';
import { pickRelease } from './loops.mjs';
import { CLOCK_IN_RELEASE, IN_FLIGHT, REFERENCE, SETTLE, SIZES, UNEQUAL, VARIANT_SIZE } from './plan.mjs';

/** Keeps results of timed work observable so no compiler can drop the work. */
let sink = 0;

/** Keeps `ring.length` leases in flight: each iteration releases the oldest and picks anew. */
function pickReleaseInFlight(balancer, contexts, outcomes, ring, iterations) {
  const contextMask = contexts.length - 1;
  const outcomeMask = outcomes.length - 1;
  for (let i = 0; i < iterations; i++) {
    const slot = i % ring.length;
    ring[slot].release(outcomes[i & outcomeMask]);
    ring[slot] = balancer.pick(contexts[i & contextMask]);
  }
}

// Read through a local reference, as the balancer's default clock does: `performance` is a lazy
// getter on Node's global object, and looking it up on every read adds about 25 ns.
const perf = performance;

function clockReads(iterations) {
  let sum = 0;
  for (let i = 0; i < iterations; i++) sum += perf.now();
  sink += sum;
}

function balancerOf(strategy, size, weight) {
  const instances = weight === undefined ? instanceUrls(size) : weightedInstances(size, weight);
  return createBalancer({ service: 'bench', instances, strategy });
}

/** A timed case, labelled for the report: which variant, strategy and pool size it measures. */
function caseOf(variant, strategy, size, run) {
  return {
    id: `${variant} ${strategy} ${size}`,
    variant,
    strategy,
    size,
    run,
    settleIterations: Math.max(SETTLE.minPicks, SETTLE.picksPerInstance * size),
  };
}

function pickCase(variant, strategy, size, outcomes, weight) {
  const balancer = balancerOf(strategy, size, weight);
  const contexts = pickContexts(strategy);
  return caseOf(variant, strategy, size, (n) => pickRelease(balancer, contexts, outcomes, n));
}

function inFlightCase(strategy, size, outcomes) {
  const balancer = balancerOf(strategy, size);
  const contexts = pickContexts(strategy);
  const ring = Array.from({ length: IN_FLIGHT }, (_, i) => balancer.pick(contexts[i % contexts.length]));
  return caseOf('in-flight', strategy, size, (n) =>
    pickReleaseInFlight(balancer, contexts, outcomes, ring, n),
  );
}

function casesFor(strategy) {
  const outcomes = latencyOutcomes();
  const cases = SIZES.map((size) => pickCase('headline', strategy, size, outcomes));
  if (strategy !== REFERENCE) {
    cases.push(...SIZES.map((size) => pickCase('reference', REFERENCE, size, outcomes)));
  }
  cases.push(inFlightCase(strategy, VARIANT_SIZE, outcomes));
  cases.push(pickCase('unequal', strategy, UNEQUAL.size, outcomes, UNEQUAL.weight));
  if (CLOCK_IN_RELEASE.has(strategy)) {
    cases.push(pickCase('clock-in-release', strategy, VARIANT_SIZE, clockOutcomes()));
  }
  cases.push({ ...caseOf('clock', 'performance.now()', 1, clockReads), settleIterations: 0 });
  return cases;
}

const [strategy, settingsJson] = process.argv.slice(2);
const cases = casesFor(strategy);
const samples = measure(cases, JSON.parse(settingsJson));
const rows = cases.map(({ run: _run, settleIterations: _settle, ...label }) => ({
  ...label,
  samples: samples.get(label.id),
}));
process.stdout.write(`${JSON.stringify({ strategy, rows, sink })}\n`);
