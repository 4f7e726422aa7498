// Turns the samples of the timing and memory processes into figures, checks the targets, and
// renders the Markdown of the "Pick" section.
import { integer, table } from '../lib/markdown.mjs';
import { median, pairedRatio, relativeSpread } from '../lib/measure.mjs';
import {
  CLOCK_IN_RELEASE,
  IN_FLIGHT,
  REFERENCE,
  SETTLE,
  SIZES,
  TARGETS,
  UNEQUAL,
  VARIANT_SIZE,
} from './plan.mjs';

/**
 * @param {{ strategies: string[], timings: { strategy: string, rows: object[] }[], memory: object,
 *   settings: object }} input  `timings` holds one entry per timing process (strategy × pass)
 */
export function summarize({ strategies, timings, memory, settings }) {
  /** Samples of one case, pooled over the passes of `owner`'s process in pass order. */
  const samples = (owner, variant, strategy, size) =>
    timings
      .filter((t) => t.strategy === owner)
      .flatMap(
        (t) =>
          t.rows.find((r) => r.variant === variant && r.strategy === strategy && r.size === size)?.samples ??
          [],
      );
  const allRows = timings.flatMap((t) => t.rows.map((row) => ({ ...row, owner: t.strategy })));

  const perStrategy = strategies.map((strategy) => {
    const ns = new Map(SIZES.map((size) => [size, median(samples(strategy, 'headline', strategy, size))]));
    const ratio = new Map(
      SIZES.map((size) => [
        size,
        strategy === REFERENCE
          ? 1
          : pairedRatio(
              samples(strategy, 'headline', strategy, size),
              samples(strategy, 'reference', REFERENCE, size),
            ),
      ]),
    );
    const clockInRelease = CLOCK_IN_RELEASE.has(strategy)
      ? median(samples(strategy, 'clock-in-release', strategy, VARIANT_SIZE))
      : undefined;
    return {
      strategy,
      ns,
      ratio,
      inFlight: median(samples(strategy, 'in-flight', strategy, VARIANT_SIZE)),
      unequal: median(samples(strategy, 'unequal', strategy, UNEQUAL.size)),
      clockInRelease,
      memory: memory.results.find((m) => m.strategy === strategy),
    };
  });

  const spreads = allRows.map((row) => ({ label: caseLabel(row), spread: relativeSpread(row.samples) }));
  const worst = spreads.reduce((a, b) => (b.spread > a.spread ? b : a));
  return {
    perStrategy,
    clockNs: median(allRows.filter((row) => row.variant === 'clock').flatMap((row) => row.samples)),
    spread: { median: median(spreads.map((s) => s.spread)), worst },
    rounds: settings.passes * settings.timing.rounds,
    settings,
    memorySize: memory.size,
    picksPerInstance: memory.picksPerInstance,
    targets: checkTargets(perStrategy),
  };
}

/** A case as a reader would name it: "round-robin at 1,000 (in the power-of-two process)". */
function caseLabel({ variant, strategy, size: n, owner }) {
  const what = {
    headline: `at ${integer(n)}`,
    reference: `at ${integer(n)}`,
    'in-flight': `${IN_FLIGHT} in flight at ${integer(n)}`,
    'clock-in-release': `reading the clock on release at ${integer(n)}`,
    unequal: `at ${integer(n)}, ${UNEQUAL.label}`,
    clock: 'alone',
  }[variant];
  return `${strategy} ${what}${owner === strategy ? '' : ` (in the ${owner} process)`}`;
}

/** One row per strategy, one cell per target that applies to it. */
function checkTargets(perStrategy) {
  return perStrategy.map(({ strategy, ns, memory }) => {
    const { fast, large } = TARGETS;
    const cells = [
      fast.strategies.has(strategy)
        ? verdict(ns.get(fast.size), fast.limitNs, 'ns', `at ${integer(fast.size)} instances`)
        : undefined,
      verdict(ns.get(large.size), large.limitNs, 'ns', `at ${integer(large.size)} instances`),
      verdict(memory.served, TARGETS.memory.limitBytes, 'B', 'per instance'),
    ];
    return { strategy, cells };
  });
}

function verdict(value, limit, unit, where) {
  return { pass: value <= limit, value, limit, unit, where };
}

/** A typical round-to-round spread above this means something else was using the machine. */
const BUSY_SPREAD = 0.15;

const formatNs = (value) => (value === undefined ? '—' : integer(value));

/** The Markdown body of the section (without its heading). */
export function render(summary, { machine, command }) {
  return [
    `Measured with \`${command}\`: ${machine}.`,
    targetLine(summary),
    '### Nanoseconds per pick + release',
    timeTable(summary),
    `Median of ${summary.rounds} rounds. Instances have weight 1 except in the "${UNEQUAL.label}" column; ` +
      'least-connections and weighted-round-robin take O(1) paths per weight class (load buckets, a ' +
      'cursor) up to 8 distinct weights, and their heaps beyond. The balancers use the default clock ' +
      '(`performance.now()`) and the default random (`Math.random`). The last row is one clock read alone: ' +
      'every pick reads the clock once (twice in the "balancer reads the clock" column), so it is a fixed ' +
      'share of every figure. Memory is per instance, after every instance has served requests.',
    '### Ratio to round-robin, measured side by side',
    ratioTable(summary),
    `Each strategy runs in its own process with round-robin beside it; a ratio is the median of the ` +
      "round-by-round ratios, which cancels most of the machine's load.",
    `### Memory per instance (bytes, ${integer(summary.memorySize)} instances)`,
    memoryTable(summary),
    '### Targets',
    targetTable(summary),
    '### How it is measured',
    method(summary),
  ].join('\n\n');
}

function targetLine({ targets }) {
  const cells = targets.flatMap((t) =>
    t.cells.filter(Boolean).map((cell) => ({ ...cell, strategy: t.strategy })),
  );
  const failing = cells.filter((cell) => !cell.pass);
  const head = `**Targets: ${cells.length - failing.length} of ${cells.length} pass.**`;
  if (failing.length === 0) return head;
  const list = failing.map(
    (f) => `${f.strategy} ${f.where} (${integer(f.value)} ${f.unit} > ${integer(f.limit)} ${f.unit})`,
  );
  return `${head} Failing: ${list.join(', ')}.`;
}

function timeTable({ perStrategy, clockNs }) {
  const header = [
    'Strategy',
    ...SIZES.map(integer),
    `${integer(VARIANT_SIZE)}, ${IN_FLIGHT} in flight`,
    `${integer(VARIANT_SIZE)}, balancer reads the clock`,
    `${integer(UNEQUAL.size)}, ${UNEQUAL.label}`,
    'Memory / instance',
  ];
  const rows = perStrategy.map((s) => [
    s.strategy,
    ...SIZES.map((n) => formatNs(s.ns.get(n))),
    formatNs(s.inFlight),
    formatNs(s.clockInRelease),
    formatNs(s.unequal),
    `${integer(s.memory.served)} B`,
  ]);
  rows.push(['clock read alone', ...SIZES.map(() => formatNs(clockNs)), '—', '—', '—', '—']);
  return table(header, rows, ['left', ...header.slice(1).map(() => 'right')]);
}

function ratioTable({ perStrategy }) {
  const rows = perStrategy.map((s) => [s.strategy, ...SIZES.map((n) => `${s.ratio.get(n).toFixed(2)}×`)]);
  return table(['Strategy', ...SIZES.map(integer)], rows, ['left', ...SIZES.map(() => 'right')]);
}

function memoryTable({ perStrategy, picksPerInstance, memorySize }) {
  const header = [
    'Strategy',
    'Built',
    'After first pick',
    `After ${integer(picksPerInstance * memorySize)} picks`,
  ];
  const rows = perStrategy.map(({ strategy, memory }) => [
    strategy,
    integer(memory.built),
    integer(memory.firstPick),
    integer(memory.served),
  ]);
  return table(header, rows, ['left', 'right', 'right', 'right']);
}

function targetTable({ targets }) {
  const header = [
    'Strategy',
    `≤ ${TARGETS.fast.limitNs} ns at ${integer(TARGETS.fast.size)}`,
    `≤ ${TARGETS.large.limitNs} ns at ${integer(TARGETS.large.size)}`,
    `≤ ${integer(TARGETS.memory.limitBytes)} B per instance`,
  ];
  const cell = (c) =>
    c === undefined ? '—' : `${c.pass ? 'pass' : '**FAIL**'} (${integer(c.value)} ${c.unit})`;
  const rows = targets.map((t) => [t.strategy, ...t.cells.map(cell)]);
  return table(header, rows, ['left', 'left', 'left', 'left']);
}

function method({ settings, spread, memorySize, picksPerInstance }) {
  const { passes, timing } = settings;
  const percent = (x) => `${Math.round(x * 100)}%`;
  return [
    `- Each figure is the median of ${passes} × ${timing.rounds} rounds (${passes} process${passes === 1 ? '' : 'es'} ` +
      'per strategy, run one after another, so each strategy is sampled across the whole run) of a batch of ' +
      `about ${timing.roundMs} ms of ` +
      '`lease = pick(); release({ ok: true, latencyMs })` on one balancer. The cases of a process run ' +
      `interleaved, round by round; before timing, each case runs at least ${integer(SETTLE.minPicks)} picks ` +
      `(${SETTLE.picksPerInstance} per instance), so that every instance object has reached its final shape, ` +
      'and then warm-up rounds.',
    '- `release({ ok: true, latencyMs })` passes a latency as the HTTP layer does, so the balancer reads ' +
      'the clock once per pick; the "balancer reads the clock" column releases with `{ ok: true }` and the ' +
      'balancer reads it twice.',
    `- "${IN_FLIGHT} in flight": ${IN_FLIGHT} leases are held at once; each iteration releases the oldest ` +
      'and picks anew, so load-aware strategies see unequal counts.',
    '- `consistent-hash` picks with `{ key }` from 4,096 precomputed user ids; the latencies (1,024 values, ' +
      '2 to 42 ms) are precomputed outcome objects. Both come from `seededRandom`, so every run feeds the ' +
      'same inputs; the balancers themselves keep `Math.random`, which is what users get.',
    '- Each strategy runs in its own process, as in an application that uses one strategy: with all of ' +
      'them in one process V8 no longer inlines the call into the strategy, and every figure grows by tens ' +
      'of nanoseconds. Leases are stored as a request would hold them; otherwise the optimiser deletes ' +
      'their allocation.',
    `- Round-to-round spread (interquartile range over median): ${percent(spread.median)} typically, ` +
      `${percent(spread.worst.spread)} at worst (${spread.worst.label}). Absolute figures move with the ` +
      "machine's load, ratios much less." +
      (spread.median > BUSY_SPREAD
        ? ' This run was noisy: before trusting an absolute figure near a target, rerun it on a quiet ' +
          'machine or compare several runs.'
        : ''),
    `- Memory: \`heapUsed + arrayBuffers\` after a full GC, before and after building a balancer of ` +
      `${integer(memorySize)} instances from URLs that already exist, divided by ${integer(memorySize)}; again ` +
      `after the first pick (tables and heaps are built on first use) and after ${picksPerInstance} picks per ` +
      'instance (an instance that has served holds its latencies as boxed doubles). The target applies to the last.',
  ].join('\n');
}
