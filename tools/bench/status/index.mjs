// `npm run bench -- status [--write] [--quick]`: what the live status page costs. The release
// listener that feeds its rolling windows runs on every request, so it is timed against a bare
// pick() + release() and against a no-op release listener (the cost of any listener at all);
// building snapshot.json, which runs once per poll per open page, is timed at 10 to 1,000
// instances; and the memory of one instance's window is weighed.
import path from 'node:path';
import process from 'node:process';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

import { commonOptions, ensureBuilt, log, root } from '../lib/core.mjs';
import { integer, loadAverage, machineFacts, table, writeSection } from '../lib/markdown.mjs';
import { measure, median, relativeSpread } from '../lib/measure.mjs';

const DOCS = path.join(root, 'docs/benchmarks.md');
const FULL = { timing: { roundMs: 20, rounds: 40, warmupRounds: 3 }, snapshotReps: 20, historySeconds: 300 };
const QUICK = { timing: { roundMs: 4, rounds: 3, warmupRounds: 1 }, snapshotReps: 3, historySeconds: 20 };
/** What the page asks for on each poll after the first. */
const RECENT_POINTS = 6;
const RELEASE_POOL = 10;
const SNAPSHOT_SIZES = [10, 100, 1000];
const MEMORY_SIZE = 1000;

export const summary = 'status page: ns added to each release, snapshot.json cost, memory per instance';
export const options = {
  ...commonOptions(),
};

export async function run({ write = false, quick = false }) {
  const machine = machineFacts();
  const loadAtStart = loadAverage();
  ensureBuilt('core', log);
  ensureBuilt('node', log);
  const { createBalancer } = await import('@ballast/core');
  const { createStatusHandler } = await import('@ballast/node');
  const settings = quick ? QUICK : FULL;
  const pool = (n) => Array.from({ length: n }, (_, i) => `http://10.0.${i >> 8}.${i & 255}:8080`);
  // Outcomes carry their latency, as the proxy reports them; every 50th one failed.
  const outcomes = Array.from({ length: 1024 }, (_, i) => ({ ok: i % 50 !== 0, latencyMs: 2 + (i % 40) }));

  log(`release cost, round-robin over ${RELEASE_POOL} instances`);
  const cases = [
    ['bare pick() + release()', () => {}],
    ['with a no-op release listener', (b) => b.on('release', () => {})],
    ['with the status page attached', (b) => createStatusHandler(b)],
  ].map(([id, attach]) => {
    const balancer = createBalancer({ strategy: 'round-robin', instances: pool(RELEASE_POOL) });
    const handler = attach(balancer);
    const runCase = (iterations) => {
      for (let i = 0; i < iterations; i++) balancer.pick().release(outcomes[i & 1023]);
    };
    return { id, run: runCase, settleIterations: 100_000, close: () => handler?.close?.() };
  });
  const samples = measure(cases, settings.timing);
  for (const c of cases) c.close();
  // Rounds ran side by side, so a burst of load hit the three cases of a round alike: the added
  // cost is the median of the per-round differences, not the difference of the medians.
  const bare = samples.get(cases[0].id);
  const signed = (ns) => `${ns >= 0 ? '+' : '-'}${integer(Math.abs(ns))}`;
  const releaseRows = cases.map(({ id }) => {
    const ns = samples.get(id);
    const added = id === cases[0].id ? '' : signed(median(ns.map((v, r) => v - bare[r])));
    return [id, integer(median(ns)), added, `${Math.round(relativeSpread(ns) * 100)} %`];
  });

  log(
    `snapshot.json at ${SNAPSHOT_SIZES.join(', ')} instances, after ${settings.historySeconds} s of traffic`,
  );
  const snapshotRows = SNAPSHOT_SIZES.map((size) => {
    const balancer = createBalancer({ strategy: 'round-robin', instances: pool(size) });
    const handler = createStatusHandler(balancer);
    age(settings.historySeconds, handler, () => {
      for (let i = 0; i < size * 5; i++) balancer.pick().release(outcomes[i & 1023]);
    });
    const row = [integer(size)];
    for (const points of [undefined, RECENT_POINTS]) {
      let bytes = 0;
      const times = [];
      for (let r = 0; r < settings.snapshotReps; r++) {
        const start = process.hrtime.bigint();
        bytes = Buffer.byteLength(JSON.stringify(handler.snapshot(points)));
        times.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
      row.push(median(times).toFixed(2), integer(bytes / 1024));
    }
    handler.close();
    return row;
  });

  log(`memory per instance window at ${MEMORY_SIZE} instances`);
  const perInstance = windowMemory(createBalancer, createStatusHandler, pool(MEMORY_SIZE), outcomes);

  const command = `npm run bench -- status${quick ? ' --quick' : ''}${write ? ' --write' : ''}`;
  const body = [
    `Measured with \`${command}\`: ${machine}, load average ${loadAtStart} at start, ${loadAverage()} at the end.`,
    '### Nanoseconds per pick + release',
    table(['case', 'ns (median)', 'added (paired rounds)', 'spread (IQR)'], releaseRows, [
      'left',
      'right',
      'right',
      'right',
    ]),
    `### Building snapshot.json (once per poll per open page, after ${settings.historySeconds} s of traffic)`,
    'The page asks for the whole history once, then for the last 6 seconds (`?points=6`) every 800 ms.',
    table(['instances', 'whole history: ms', 'KiB', '`?points=6`: ms', 'KiB'], snapshotRows, [
      'right',
      'right',
      'right',
      'right',
      'right',
    ]),
    `Memory of one instance's window (300 s of history): ${integer(perInstance)} bytes, fixed.`,
  ].join('\n\n');
  process.stdout.write(`## Status page\n\n${body}\n`);
  if (write) {
    writeSection(DOCS, { name: 'status', heading: 'Status page', body });
    log(`wrote the Status page section of ${path.relative(process.cwd(), DOCS)}`);
  }
}

/**
 * Runs `traffic` once per simulated second for `seconds` seconds, moving \`performance.now()\` a
 * second ahead each time: the handler's clock reads it, and a snapshot makes it read it at once.
 */
function age(seconds, handler, traffic) {
  const realNow = performance.now.bind(performance);
  let offsetMs = 0;
  performance.now = () => realNow() + offsetMs;
  try {
    for (let s = 0; s < seconds; s++) {
      offsetMs += 1000;
      handler.snapshot(1);
      traffic();
    }
  } finally {
    performance.now = realNow;
  }
}

/** Heap and array-buffer bytes per instance once every instance has a window. */
function windowMemory(createBalancer, createStatusHandler, urls, outcomes) {
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  const balancer = createBalancer({ strategy: 'round-robin', instances: urls });
  const handler = createStatusHandler(balancer);
  const used = () => {
    gc();
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    return heapUsed + arrayBuffers;
  };
  const before = used();
  for (let i = 0; i < urls.length; i++) balancer.pick().release(outcomes[i & 1023]);
  const after = used();
  handler.close();
  return (after - before) / urls.length;
}
