// Child process of the metrics benchmark: pick + release on two balancers of the same strategy
// and size, one without metrics and one attached to @ballast/prometheus, timed side by side
// round by round, and prints the samples as JSON on stdout. One strategy per process, for the
// reason time-strategy.mjs gives (a monomorphic call into the strategy, as in an application).
//
// Usage: node time-metrics.mjs <strategy> '[100,1000]' '{"roundMs":10,"rounds":10,"warmupRounds":2}'
import process from 'node:process';

import { createBalancer } from '@ballast/core';
import { collectMetrics } from '@ballast/prometheus';
import { Registry } from 'prom-client';

import { measure } from '../lib/measure.mjs';
import { instanceUrls, latencyOutcomes, pickContexts } from '../pick/fixtures.mjs';
import { pickRelease } from '../pick/loops.mjs';
import { SETTLE } from '../pick/plan.mjs';

const [strategy, sizesJson, settingsJson] = process.argv.slice(2);
const outcomes = latencyOutcomes();
const contexts = pickContexts(strategy);
const registry = new Registry();
const cases = [];
for (const size of JSON.parse(sizesJson)) {
  for (const variant of ['plain', 'listener', 'metrics']) {
    const balancer = createBalancer({ service: `bench-${size}`, instances: instanceUrls(size), strategy });
    // An empty release listener: what the event itself costs, whoever listens.
    if (variant === 'listener') balancer.on('release', () => {});
    if (variant === 'metrics') collectMetrics(balancer, { registry });
    cases.push({
      id: `${variant} ${size}`,
      variant,
      size,
      run: (n) => pickRelease(balancer, contexts, outcomes, n),
      settleIterations: Math.max(SETTLE.minPicks, SETTLE.picksPerInstance * size),
    });
  }
}
const samples = measure(cases, JSON.parse(settingsJson));
// A scrape after the timing, so the figures include nothing of it but the series are checked real.
const text = await registry.metrics();
const counted = [...text.matchAll(/^ballast_request_duration_seconds_count\{[^}]*\} (\d+)$/gm)].reduce(
  (sum, match) => sum + Number(match[1]),
  0,
);
const rows = cases.map(({ id, variant, size }) => ({ id, variant, size, samples: samples.get(id) }));
process.stdout.write(`${JSON.stringify({ strategy, rows, counted })}\n`);
