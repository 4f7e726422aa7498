// Child process of the pick benchmark: memory a balancer holds per instance, for each strategy,
// printed as JSON on stdout. Needs --expose-gc, which the parent passes.
//
// Memory is heapUsed plus arrayBuffers after a full GC: typed arrays (the Maglev table, the
// heaps' arrays) live outside the JS heap, so heapUsed alone would miss them. The instance URLs
// exist before the first reading, so the figure is what the balancer adds to its configuration.
// It is read at three points, because structures appear lazily: after construction, after the
// first pick (tables and heaps are built on first use), and after every instance has served
// requests (each instance's latency fields then hold doubles, which V8 boxes).
//
// Usage: node --expose-gc memory.mjs '{"size":10000,"strategies":["round-robin"]}'
import process from 'node:process';

import { createBalancer, seededRandom } from '@ballast/core';

import { instanceUrls, latencyOutcomes, pickContexts } from './fixtures.mjs';

/** Picks per instance in the "served" reading: enough that random strategies reach nearly all. */
const PICKS_PER_INSTANCE = 5;

if (typeof globalThis.gc !== 'function') throw new Error('memory.mjs needs node --expose-gc');

/** Blocks the thread for `ms`, letting V8's background threads finish their part of a GC. */
function pause(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function heapBytes() {
  // Typed arrays are released by a concurrent sweeper after the collection that finds them dead,
  // so a reading right after gc() can still count buffers that are already garbage (seen as up to
  // 20 bytes per instance from run to run). Collect a few times with pauses and keep the lowest.
  let bytes = Infinity;
  for (let attempt = 0; attempt < 4; attempt++) {
    globalThis.gc();
    pause(5);
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    bytes = Math.min(bytes, heapUsed + arrayBuffers);
  }
  return bytes;
}

function serve(balancer, contexts, outcomes, picks) {
  for (let i = 0; i < picks; i++) {
    balancer.pick(contexts[i % contexts.length]).release(outcomes[i % outcomes.length]);
  }
}

/** Bytes per instance at the three readings, for one strategy and pool. */
function measureStrategy(strategy, urls) {
  const contexts = pickContexts(strategy);
  const outcomes = latencyOutcomes();
  const size = urls.length;
  const before = heapBytes();
  // A seeded random makes the structures (and so the figures) the same on every run.
  const balancer = createBalancer({ service: 'bench', instances: urls, strategy, random: seededRandom(7) });
  const built = heapBytes();
  serve(balancer, contexts, outcomes, 1);
  const firstPick = heapBytes();
  serve(balancer, contexts, outcomes, PICKS_PER_INSTANCE * size);
  const served = heapBytes();
  balancer.close();
  const perInstance = (bytes) => (bytes - before) / size;
  return {
    strategy,
    built: perInstance(built),
    firstPick: perInstance(firstPick),
    served: perInstance(served),
  };
}

const { size, strategies } = JSON.parse(process.argv[2]);
const urls = instanceUrls(size);
// A first, discarded pass compiles the code and settles the hidden classes (fields that will hold
// doubles get boxes from construction on). It also lets V8 drop some 700 KB of start-up data
// that no GC before the first large allocation frees; both would skew whichever strategy came
// first by tens of bytes per instance.
for (const strategy of strategies) measureStrategy(strategy, urls);
const results = strategies.map((strategy) => measureStrategy(strategy, urls));
process.stdout.write(`${JSON.stringify({ size, picksPerInstance: PICKS_PER_INSTANCE, results })}\n`);
