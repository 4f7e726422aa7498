// `npm run bench -- metrics [--write] [--quick]`: what @ballast/prometheus adds to a pick +
// release. Each strategy runs in its own process with two balancers of the same size side by
// side, one without metrics and one with `collectMetrics`, interleaved round by round; the ratio
// is the median of the round-by-round ratios, which cancels most of the machine's load. The
// target (issue 6): metrics cost at most 20 % of a pick.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

import { commonOptions, ensureBuilt, ensureCoreBuilt, log, root } from '../lib/core.mjs';
import { integer, loadAverage, machineFacts, table, writeSection } from '../lib/markdown.mjs';
import { median, pairedRatio, relativeSpread } from '../lib/measure.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const DOCS = path.join(root, 'docs/benchmarks.md');

/** round-robin is the cheapest pick, so the overhead is the largest share of it; adaptive is the default. */
const STRATEGIES = ['round-robin', 'adaptive'];
const SIZES = [3, 100, 1_000];
const TARGET = 0.2;
// CPU time, not wall time: on a shared machine the wall clock also counts the time other
// processes hold the cores, which swamps a difference of tens of nanoseconds.
const FULL = { passes: 3, timing: { roundMs: 20, rounds: 16, warmupRounds: 2, cpuTime: true } };
const QUICK = { passes: 1, timing: { roundMs: 4, rounds: 3, warmupRounds: 1, cpuTime: true } };

export const summary = 'ns per pick() + release() with and without @ballast/prometheus collectMetrics';
export const options = {
  ...commonOptions(),
};

export async function run({ write = false, quick = false }) {
  const machine = machineFacts();
  const loadAtStart = loadAverage();
  ensureCoreBuilt(log);
  ensureBuilt('prometheus', log);
  const settings = quick ? QUICK : FULL;
  const processes = [];
  for (let pass = 1; pass <= settings.passes; pass++) {
    for (const strategy of STRATEGIES) {
      log(`timing ${strategy} with and without metrics (pass ${pass} of ${settings.passes})`);
      processes.push(runChild(strategy, settings.timing));
    }
  }
  const command = `npm run bench -- metrics${quick ? ' --quick' : ''}${write ? ' --write' : ''}`;
  const body = render(processes, settings, {
    machine: `${machine}, load average ${loadAtStart} at start, ${loadAverage()} at the end`,
    command,
  });
  process.stdout.write(`## Metrics overhead\n\n${body}\n`);
  if (write) {
    writeSection(DOCS, { name: 'metrics', heading: 'Metrics overhead', body });
    log(`wrote the Metrics overhead section of ${path.relative(process.cwd(), DOCS)}`);
  }
}

function rowsOf(processes) {
  return STRATEGIES.flatMap((strategy) =>
    SIZES.map((size) => {
      const mine = processes.filter((p) => p.strategy === strategy);
      const samples = (variant) =>
        mine.flatMap((p) => p.rows.find((r) => r.variant === variant && r.size === size).samples);
      const plain = samples('plain');
      const listener = samples('listener');
      const metrics = samples('metrics');
      const ratio = pairedRatio(metrics, plain);
      return {
        strategy,
        size,
        plain: median(plain),
        metrics: median(metrics),
        ratio,
        listenerRatio: pairedRatio(listener, plain),
        spread: Math.max(relativeSpread(plain), relativeSpread(metrics)),
        pass: ratio - 1 <= TARGET,
      };
    }),
  );
}

function render(processes, settings, { machine, command }) {
  const rows = rowsOf(processes);
  const passing = rows.filter((row) => row.pass).length;
  const counted = processes.every((p) => p.counted > 0);
  return [
    `Measured with \`${command}\`: ${machine}.`,
    `**Target: metrics cost ≤ ${TARGET * 100} % of a pick + release. ${passing} of ${rows.length} pass.**`,
    table(
      [
        'Strategy',
        'Instances',
        'Without metrics',
        'With collectMetrics',
        'Ratio',
        'Overhead',
        'An empty release listener instead',
        'Target',
      ],
      rows.map((row) => [
        row.strategy,
        integer(row.size),
        `${integer(row.plain)} ns`,
        `${integer(row.metrics)} ns`,
        `${row.ratio.toFixed(2)}×`,
        `${((row.ratio - 1) * 100).toFixed(0)} %`,
        `${((row.listenerRatio - 1) * 100).toFixed(0)} %`,
        row.pass ? 'pass' : '**FAIL**',
      ]),
      ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'left'],
    ),
    [
      `- Each pair runs in one process per strategy, ${settings.passes} process(es) one after another, ` +
        `${settings.timing.rounds} rounds of about ${settings.timing.roundMs} ms of the process's CPU time ` +
        '(`process.cpuUsage()`, so that other processes on the machine do not count); figures are medians, ' +
        'the ratio is the median of round-by-round ratios (see "How it is measured" under Pick for the loop, ' +
        'the latencies and the settling).',
      '- "With collectMetrics": the balancer is attached to a prom-client `Registry`; each release runs the ' +
        "metrics' release observer (`observeReleases`: nothing allocated; a slot check, a histogram bucket " +
        'lookup and three additions into a flat array). Nothing is scraped while timing; a scrape after ' +
        `the timing ${counted ? 'found the requests counted' : 'found **no** requests counted'}.`,
      '- "An empty release listener instead": a third balancer with `on(\'release\', () => {})` and no metrics, ' +
        'for comparison: what the `release` event alone costs (its payload is allocated for every release), ' +
        'which is why metrics do not use it.',
      `- Round-to-round spread (interquartile range over median): ${(
        median(rows.map((row) => row.spread)) * 100
      ).toFixed(0)} % typically.`,
    ].join('\n'),
  ].join('\n\n');
}

function runChild(strategy, timing) {
  const result = spawnSync(
    process.execPath,
    [path.join(here, 'time-metrics.mjs'), strategy, JSON.stringify(SIZES), JSON.stringify(timing)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 },
  );
  if (result.status !== 0) {
    throw new Error(
      `time-metrics.mjs ${strategy} failed (${result.error?.message ?? `exit ${result.status}`})`,
    );
  }
  return JSON.parse(result.stdout.trim().split('\n').at(-1));
}
