// Turns the loads of a proxy benchmark run into figures, checks the targets, and renders the
// Markdown of the "Proxy" section.
import { integer, table } from '../lib/markdown.mjs';
import { median, pairedRatio, quantile, relativeSpread } from '../lib/measure.mjs';
import { BASELINE, CONTENDERS, DIRECT, DISTURBED, METHODS, TARGETS } from './plan.mjs';

/**
 * @param {{ samples: object[], contenders: string[], skipped: Map<string, string>, settings: object }} input
 *   `samples` holds one entry per measured load: { round, contender, method, requestsPerSecond,
 *   p99Us, cpuUsPerRequest, upstreamCpuUsPerRequest, otherCores, stolenCores, attempts, errors }
 */
export function summarize({ samples, contenders, skipped, settings }) {
  const series = (contender, method, field) =>
    samples
      .filter((s) => s.contender === contender && s.method === method)
      .sort((a, b) => a.round - b.round)
      .map((s) => s[field]);
  const present = new Set(contenders);
  const ratio = (contender, reference, method, field) =>
    present.has(contender) && present.has(reference)
      ? pairedRatio(series(contender, method, field), series(reference, method, field))
      : undefined;

  const methods = METHODS.map((method) => ({
    ...method,
    rows: CONTENDERS.filter((c) => present.has(c.id)).map((c) => {
      const rps = series(c.id, method.id, 'requestsPerSecond');
      const proxied = c.id !== DIRECT;
      return {
        id: c.id,
        label: c.label,
        requestsPerSecond: median(rps),
        spread: relativeSpread(rps),
        toDirect: ratio(c.id, DIRECT, method.id, 'requestsPerSecond'),
        toBaseline: ratio(c.id, BASELINE, method.id, 'requestsPerSecond'),
        p99Us: median(series(c.id, method.id, 'p99Us')),
        p99ToBaseline: ratio(c.id, BASELINE, method.id, 'p99Us'),
        cpuUs: proxied ? median(series(c.id, method.id, 'cpuUsPerRequest')) : undefined,
        cpuToBaseline: proxied ? ratio(c.id, BASELINE, method.id, 'cpuUsPerRequest') : undefined,
        upstreamCpuUs: median(series(c.id, method.id, 'upstreamCpuUsPerRequest')),
        errors: series(c.id, method.id, 'errors').reduce((a, b) => a + b, 0),
      };
    }),
  }));

  const label = (id) => CONTENDERS.find((c) => c.id === id).label;
  /** The ratios of each round, whose quartiles show how far the median could move in another run. */
  const roundRatios = (contender, reference, method) => {
    const a = series(contender, method, 'requestsPerSecond');
    const b = series(reference, method, 'requestsPerSecond');
    return a.map((x, i) => x / b[i]);
  };
  const targets = TARGETS.map((target) => {
    const value = ratio(target.contender, target.reference, target.method, 'requestsPerSecond');
    const missing = [target.contender, target.reference].filter((id) => !present.has(id));
    const rounds = value === undefined ? [] : roundRatios(target.contender, target.reference, target.method);
    return {
      ...target,
      value,
      low: value === undefined ? undefined : quantile(rounds, 0.25),
      high: value === undefined ? undefined : quantile(rounds, 0.75),
      pass: value === undefined ? undefined : value >= target.atLeast,
      why: missing.map((id) => `${label(id)}: ${skipped.get(id) ?? 'not run'}`).join('; '),
    };
  });
  const references = [
    ['express-undici', 'express-hpm'],
    ['ballast-express', 'express-hpm'],
  ]
    .map(([contender, reference]) => ({
      contender,
      reference,
      ratios: METHODS.map((m) => ratio(contender, reference, m.id, 'requestsPerSecond')),
    }))
    .filter((r) => r.ratios.every((x) => x !== undefined));

  const taken = samples.map((s) => s.otherCores + s.stolenCores);
  const disturbance = {
    loads: samples.length,
    remeasured: samples.filter((s) => s.attempts > 1).length,
    extraLoads: samples.reduce((sum, s) => sum + s.attempts - 1, 0),
    stillBusy: taken.filter((x) => x > DISTURBED.cores).length,
    takenMedian: median(taken),
    takenMax: Math.max(...taken),
  };

  return { methods, targets, references, skipped, settings, disturbance };
}

const times = (x) => (x === undefined ? '—' : `${x.toFixed(2)}×`);
const ms = (us) => (us / 1000).toFixed(2);

/** The Markdown body of the section (without its heading). */
export function render(summary, { machine, command, tools }) {
  return [
    `Measured with \`${command}\`: ${machine}; ${tools}.`,
    targetLine(summary),
    ...summary.methods.flatMap((method) => [`### ${method.label}`, methodTable(method)]),
    skippedNote(summary),
    `Ratios are medians of the round-by-round ratios to the row measured in the same round ` +
      '(absolute figures drift by up to 2× between runs minutes apart on this machine, ratios much ' +
      'less); "baseline" is node:http over undici\'s BalancedPool. CPU is the proxy process\'s user + ' +
      'system time per request (all its threads; for nginx the master and its worker).',
    '### Targets',
    targetTable(summary),
    referenceLine(summary),
    '### How it is measured',
    method(summary),
  ]
    .filter(Boolean)
    .join('\n\n');
}

function targetLine({ targets }) {
  const measured = targets.filter((t) => t.pass !== undefined);
  const passing = measured.filter((t) => t.pass);
  const notRun = targets.length - measured.length;
  return (
    `**Targets: ${passing.length} of ${targets.length} pass` +
    (notRun > 0 ? ` (${notRun} not measured: a row they need was skipped)` : '') +
    '.**'
  );
}

function methodTable({ rows }) {
  const header = [
    'Contender',
    'req/s',
    '× direct',
    '× baseline',
    'p99 ms',
    'p99 × baseline',
    'CPU µs/req',
    'CPU × baseline',
  ];
  const body = rows.map((r) => [
    r.errors > 0 ? `${r.label} (${integer(r.errors)} errors)` : r.label,
    integer(r.requestsPerSecond),
    times(r.toDirect),
    times(r.toBaseline),
    ms(r.p99Us),
    times(r.p99ToBaseline),
    r.cpuUs === undefined ? '—' : integer(r.cpuUs),
    times(r.cpuToBaseline),
  ]);
  return table(header, body, ['left', ...header.slice(1).map(() => 'right')]);
}

function skippedNote({ skipped }) {
  if (skipped.size === 0) return '';
  const label = (id) => CONTENDERS.find((c) => c.id === id).label;
  return `Not measured in this run: ${[...skipped].map(([id, why]) => `${label(id)} (${why})`).join('; ')}.`;
}

function targetTable({ targets }) {
  const verdict = (t) => {
    if (t.pass === undefined) return `not measured (${t.why})`;
    // A median on the wrong side of the line, but a quarter of the rounds on the right side.
    const close = t.pass ? t.low < t.atLeast : t.high >= t.atLeast;
    return `${t.pass ? 'pass' : '**FAIL**'}${close ? " (within the rounds' spread)" : ''}`;
  };
  // Three decimals where two would print the target itself (1.00× against "no slower").
  const ratio = (t) =>
    t.value !== undefined && t.value.toFixed(2) === t.atLeast.toFixed(2) && t.value !== t.atLeast
      ? `${t.value.toFixed(3)}×`
      : times(t.value);
  const rows = targets.map((t) => [
    t.text,
    t.method,
    ratio(t),
    t.value === undefined ? '—' : `${times(t.low)} – ${times(t.high)}`,
    verdict(t),
  ]);
  return table(['Target', 'Load', 'Ratio', 'Rounds (IQR)', 'Verdict'], rows, [
    'left',
    'left',
    'right',
    'right',
    'left',
  ]);
}

function referenceLine({ references, methods }) {
  if (references.length === 0) return '';
  const label = (id) => methods[0].rows.find((r) => r.id === id)?.label ?? id;
  const parts = references.map(
    (r) =>
      `${label(r.contender)} vs ${label(r.reference)}: ` +
      METHODS.map((m, i) => `${times(r.ratios[i])} (${m.id})`).join(', '),
  );
  return `For reference (the issue expects about 1.44× and 1.3×): ${parts.join('; ')}.`;
}

function method({ settings, methods, disturbance: d }) {
  const { rounds, warmupSeconds, loadSeconds, threads, connections } = settings;
  const upstream = methods.map((m) => {
    const values = m.rows.map((r) => r.upstreamCpuUs);
    return `${integer(Math.min(...values))}–${integer(Math.max(...values))} µs (${m.id})`;
  });
  const spreads = methods.flatMap((m) => m.rows.map((r) => r.spread));
  const percent = (x) => `${Math.round(x * 100)}%`;
  return [
    `- Load: \`wrk -t${threads} -c${connections} -d${loadSeconds}s\` (keep-alive), the same for every row, ` +
      `from 127.0.0.1 to 127.0.0.1. GET reads a small JSON body; POST sends 64 KiB ` +
      "(`Content-Length`) and reads a small JSON body. p99 is wrk's (closed loop, so it includes the " +
      'queueing behind a slower proxy).',
    `- Three upstream node:http servers in one child process; "direct" loads the first of them with no ` +
      'proxy. Each proxy runs in a process of its own, nginx (one worker, `keepalive 64` upstream ' +
      'connections, no access log, body buffered in memory) and HAProxy (`nbthread 1`, `http-reuse ' +
      'always`, no log) included. Every proxy round-robins or balances over the three upstreams and ' +
      'keeps its upstream connections alive; http-proxy-middleware gets a keep-alive `http.Agent` ' +
      '(its default, `agent: false`, opens a connection per request) and a round-robin `router`.',
    "- Ballast rows run the packages' built `dist/` with their defaults (strategy, passive health " +
      'model, retries with a retry budget, timeouts, `X-Forwarded-*`) plus active health checks at the ' +
      'default interval.',
    `- Order: one ${warmupSeconds} s warm-up load per contender and method, then ${rounds} round` +
      `${rounds === 1 ? '' : 's'} in which every contender takes each load once for ${loadSeconds} s, ` +
      'the contender order rotated and the method order swapped from round to round. Figures are ' +
      `medians over the rounds; round-to-round spread of req/s (IQR over median): ` +
      `${percent(median(spreads))} typically, ${percent(Math.max(...spreads))} at worst.`,
    '- CPU: utime + stime from `/proc/<pid>/stat` (clock ticks) before and after each load, divided ' +
      `by the requests wrk completed. The upstream process used ${upstream.join(', ')} per request ` +
      'across rows.',
    '- The machine is shared: around each load, the CPU time the rest of the machine took is read too ' +
      "(other processes' busy time from `/proc/stat` less this run's processes, plus the hypervisor's " +
      `steal), and a load during which it exceeded ${DISTURBED.cores} of a core is measured again (up to ` +
      `${DISTURBED.retriesPerLoad} times, keeping the quietest attempt). This run re-measured ${d.remeasured} ` +
      `of ${d.loads} loads (${d.extraLoads} extra loads); ${d.stillBusy} kept load${d.stillBusy === 1 ? ' is' : 's are'} ` +
      'still above the threshold (no quieter attempt, or the retry budget of ' +
      `${Math.round(DISTURBED.retryShare * 100)}% more loads was spent); ` +
      `the rest of the machine took ${d.takenMedian.toFixed(2)} of a core in the median kept load, ` +
      `${d.takenMax.toFixed(2)} at most.`,
    '- On 2 cores the load generator, the proxy and the upstreams share the CPUs: a proxy that uses ' +
      'less CPU leaves more to the others, so req/s ratios understate CPU ratios.',
  ].join('\n');
}
