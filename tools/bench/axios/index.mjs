// `npm run bench -- axios [--write] [--quick]`: what @ballast/axios costs per request. The same
// axios setup (keep-alive agent, one local upstream) is loaded with and without withBalancer,
// round by round in one process, and the round-by-round ratio of time per request is reported
// (the issue's target: at most 10 % more).
//
// The upstream runs in a child process (the proxy benchmark's upstreams.mjs), so that its CPU time
// never counts as the client's; this process is the client, so `process.cpuUsage()` gives the
// client's CPU time per request, the most direct measure of what the interceptor adds.
import http from 'node:http';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

import { commonOptions, ensureBuilt, log, root } from '../lib/core.mjs';
import { integer, loadAverage, machineFacts, table, writeSection } from '../lib/markdown.mjs';
import { median, pairedRatio, quantile } from '../lib/measure.mjs';
import { forkChild, stopAll, stopOnSignals } from '../proxy/processes.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const DOCS = path.join(root, 'docs/benchmarks.md');

/**
 * A full run takes about 45 s; --quick is a few seconds' check that the benchmark works. Many
 * short rounds rather than a few long ones: on a shared machine a burst of load then spoils a
 * few pairs of rounds, which the median of the paired ratios discards.
 */
const FULL = { rounds: 45, roundMs: 300, warmupRounds: 3, concurrency: 16 };
const QUICK = { rounds: 4, roundMs: 150, warmupRounds: 1, concurrency: 16 };
/** The issue's target: a balanced client at most 10 % slower per request than the plain one. */
const TARGET = 1.1;

export const summary = 'per-request overhead of @ballast/axios over the same plain axios instance';
export const options = {
  ...commonOptions('three short rounds, to check that the benchmark works'),
};

export async function run({ write = false, quick = false }) {
  const startedAt = Date.now();
  const machine = machineFacts();
  const loadAtStart = loadAverage();
  const settings = quick ? QUICK : FULL;
  ensureBuilt('core', log);
  ensureBuilt('axios', log);
  const { default: axios } = await import('axios');
  const { withBalancer, balancerOf } = await import('@ballast/axios');

  const releaseSignals = stopOnSignals(() => undefined);
  let samples;
  let pipeline;
  const agents = [];
  try {
    const upstreams = await forkChild(path.join(here, '../proxy/upstreams.mjs'), ['3'], {
      label: 'upstreams',
    });
    const urls = upstreams.ready.ports.map((port) => `http://127.0.0.1:${port}`);
    // Each client has its own keep-alive agent, sized for the load, as an application would.
    const agent = () => {
      const created = new http.Agent({ keepAlive: true, maxSockets: settings.concurrency });
      agents.push(created);
      return created;
    };
    const cases = [
      { id: 'plain', client: axios.create({ baseURL: urls[0], httpAgent: agent() }) },
      {
        id: 'balanced',
        client: withBalancer(axios.create({ httpAgent: agent() }), { instances: [urls[0]] }),
      },
      { id: 'balanced3', client: withBalancer(axios.create({ httpAgent: agent() }), { instances: urls }) },
    ];
    for (const c of cases) await check(c);
    samples = await measure(cases, settings);
    for (const c of cases) balancerOf(c.client)?.close();
    log('the axios pipeline alone, with an adapter that answers at once');
    pipeline = await pipelineCost(axios, { withBalancer, balancerOf }, settings);
  } finally {
    for (const created of agents) created.destroy();
    await stopAll();
    releaseSignals();
  }

  const command = `npm run bench -- axios${quick ? ' --quick' : ''}${write ? ' --write' : ''}`;
  const load = `load average ${loadAtStart} at start, ${loadAverage()} at the end`;
  const body = render(samples, pipeline, settings, { machine: `${machine}, ${load}`, command });
  process.stdout.write(`## axios\n\n${body}\n`);
  if (write) {
    writeSection(DOCS, { name: 'axios', heading: 'axios', body });
    log(`wrote the axios section of ${path.relative(process.cwd(), DOCS)}`);
  }
  log(`done in ${Math.round((Date.now() - startedAt) / 1000)} s`);
}

/** A client that does not reach the upstream (an error, a wrong body) would win every round. */
async function check({ id, client }) {
  for (let i = 0; i < 6; i++) {
    const response = await client.get('/check');
    if (response.status !== 200 || response.data?.ok !== true) {
      throw new Error(`${id}: GET /check answered ${response.status} ${JSON.stringify(response.data)}`);
    }
  }
}

/**
 * Loads every case for `roundMs` per round, cases interleaved and their order rotated each round,
 * so that load from elsewhere hits them alike. Returns, per case, each round's wall-clock and
 * CPU microseconds per request.
 */
async function measure(cases, { rounds, roundMs, warmupRounds, concurrency }) {
  const samples = new Map(cases.map((c) => [c.id, { wallUs: [], cpuUs: [], requests: 0 }]));
  for (let r = -warmupRounds; r < rounds; r++) {
    log(r < 0 ? `warm-up round ${r + warmupRounds + 1} of ${warmupRounds}` : `round ${r + 1} of ${rounds}`);
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(k + Math.max(r, 0)) % cases.length];
      const result = await load(c.client, roundMs, concurrency);
      if (r < 0) continue;
      const sample = samples.get(c.id);
      sample.wallUs.push(result.wallUs / result.requests);
      sample.cpuUs.push(result.cpuUs / result.requests);
      sample.requests += result.requests;
    }
  }
  return samples;
}

/** A closed loop of `concurrency` sequential GETs each, for `durationMs`. */
async function load(client, durationMs, concurrency) {
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(durationMs) * 1_000_000n;
  let requests = 0;
  const worker = async () => {
    while (process.hrtime.bigint() < deadline) {
      await client.get('/');
      requests += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallUs = Number(process.hrtime.bigint() - start) / 1_000;
  const cpu = process.cpuUsage(cpuStart);
  return { requests, wallUs, cpuUs: cpu.user + cpu.system };
}

/**
 * The cost of the axios call itself, I/O aside: an adapter that answers at once, the plain and
 * the balanced client in alternating batches. What Ballast adds here is its whole CPU cost per
 * request; as a ratio it is an upper bound, the denominator lacking the HTTP work.
 */
async function pipelineCost(axios, { withBalancer, balancerOf }, { rounds }) {
  const adapter = async (config) => ({
    data: '{}',
    status: 200,
    statusText: 'OK',
    headers: {},
    config,
    request: {},
  });
  const plain = axios.create({ baseURL: 'http://127.0.0.1:9', adapter });
  const balanced = withBalancer(axios.create({ adapter }), { instances: ['http://127.0.0.1:9'] });
  const batch = async (client, n) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await client.get('/');
    return Number(process.hrtime.bigint() - start) / 1_000 / n;
  };
  const result = { plain: [], balanced: [] };
  for (let r = -3; r < rounds; r++) {
    // Alternating which goes first, so that neither always inherits the other's garbage.
    const first = r % 2 === 0 ? plain : balanced;
    const a = await batch(first, 2_000);
    const c = await batch(first === plain ? balanced : plain, 2_000);
    const [p, b] = first === plain ? [a, c] : [c, a];
    if (r < 0) continue;
    result.plain.push(p);
    result.balanced.push(b);
  }
  balancerOf(balanced).close();
  return result;
}

const LABELS = {
  plain: 'plain `axios.create()` (baseline)',
  balanced: '`withBalancer`, 1 instance',
  balanced3: '`withBalancer`, 3 instances',
};

function render(samples, pipeline, settings, { machine, command }) {
  const plain = samples.get('plain');
  const rows = [...samples].map(([id, s]) => {
    const wall = median(s.wallUs);
    const ratio = id === 'plain' ? 1 : pairedRatio(s.wallUs, plain.wallUs);
    const cpuRatio = id === 'plain' ? 1 : pairedRatio(s.cpuUs, plain.cpuUs);
    return [
      LABELS[id],
      integer(1e6 / wall),
      wall.toFixed(1),
      `${ratio.toFixed(3)}×`,
      median(s.cpuUs).toFixed(1),
      `${cpuRatio.toFixed(3)}×`,
      integer(s.requests),
    ];
  });
  const balanced = samples.get('balanced');
  const ratios = balanced.wallUs.map((value, i) => value / plain.wallUs[i]);
  const ratio = median(ratios);
  const low = quantile(ratios, 0.25);
  const spread = `${low.toFixed(3)}× – ${quantile(ratios, 0.75).toFixed(3)}×`;
  const cpuRatio = pairedRatio(balanced.cpuUs, plain.cpuUs);
  const overhead = `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;
  const verdict = ratio <= TARGET ? 'pass' : low <= TARGET ? "FAIL (within the rounds' spread)" : 'FAIL';
  return `Measured with \`${command}\`: ${machine}.

**Target, per-request overhead ≤ 10 %: ${verdict}.** With \`withBalancer\` (1 instance) a request takes ${ratio.toFixed(3)}× the time of the plain client (${overhead}; rounds' interquartile range ${spread}) and ${cpuRatio.toFixed(3)}× its client CPU time.

${table(
  ['Client', 'req/s', 'µs/req (wall)', '× plain', 'client CPU µs/req', 'CPU × plain', 'Requests'],
  rows,
  ['left', 'right', 'right', 'right', 'right', 'right', 'right'],
)}

### The axios call alone, without I/O

${table(
  ['Client', 'µs per call', 'Ballast adds'],
  [
    ['plain `axios.create()`', median(pipeline.plain).toFixed(2), '—'],
    [
      '`withBalancer`, 1 instance',
      median(pipeline.balanced).toFixed(2),
      `${median(pipeline.balanced.map((b, i) => b - pipeline.plain[i])).toFixed(2)} µs (${pairedRatio(pipeline.balanced, pipeline.plain).toFixed(3)}×)`,
    ],
  ],
  ['left', 'right', 'right'],
)}

Both clients use an adapter that answers at once: this is axios's own work per call (config merge, interceptors, transforms) and, for the balanced client, the interceptor, the pick, the release and the adapter wrapper. Medians of ${settings.rounds} pairs of batches of 2,000 sequential calls, which of the two goes first alternating; "Ballast adds" is the median of the pairs' differences.

### How it is measured

- One process is the client; the upstreams (Node \`http\` servers answering a small JSON body) run in a child process. Every client has its own keep-alive \`http.Agent\` (${settings.concurrency} sockets) and runs ${settings.concurrency} concurrent loops of sequential \`client.get('/')\` for ${settings.roundMs} ms per round.
- The plain client has \`baseURL\` set to the upstream; the balanced ones are the same \`axios.create()\` given to \`withBalancer\` with the default strategy, over the same upstream (and over three, the third row), with the default retries.
- ${settings.rounds} rounds after ${settings.warmupRounds} warm-up round(s); in each round every client runs once, in an order rotated from round to round. Wall-clock and CPU figures are medians over rounds; ratios are medians of the round-by-round ratios to the plain client, which cancels most of the machine's other load.
- Client CPU is this process's user + system time per request: axios, the agent, the HTTP parser and, for the balanced rows, Ballast. The upstream's CPU is not counted.`;
}
