// `npm run bench -- proxy [--write] [--quick]`: Ballast's reverse proxy side by side with the
// direct path, Node baselines, nginx and HAProxy, on loopback, under a keep-alive wrk load: req/s,
// p99 and the proxy process's CPU time per request, each as a ratio measured in the same round.
//
// This process only orchestrates. The upstreams run in one child process, each Node contender in
// one of its own (contender.mjs), nginx and HAProxy as themselves; wrk loads one contender at a
// time, so that only the proxy under test, the upstreams and wrk are busy.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

import { commonOptions, ensureBuilt, hasPackage, log, root } from '../lib/core.mjs';
import { loadAverage, machineFacts, writeSection } from '../lib/markdown.mjs';
import { startHaproxy, startNginx } from './native.mjs';
import { BASELINE, CONTENDERS, DIRECT, FULL, METHODS, QUICK, UPSTREAMS } from './plan.mjs';
import { forkChild, stopAll, stopOnSignals } from './processes.mjs';
import { render, summarize } from './report.mjs';
import { measure } from './rounds.mjs';
import { ensurePrograms, programVersion } from './tools.mjs';
import { writeScript } from './wrk.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const DOCS = path.join(root, 'docs/benchmarks.md');
/** Exit code of a command-line mistake, as run.mjs uses it. */
const USAGE_ERROR = 2;

export const summary = 'req/s, p99 and CPU per request of the proxy vs Node, nginx and HAProxy baselines';
export const options = {
  ...commonOptions('two short rounds, to check that the benchmark works'),
  only: {
    type: 'string',
    description: `comma-separated contenders (${CONTENDERS.map((c) => c.id).join(', ')})`,
  },
  strategy: { type: 'string', description: "the Ballast rows' strategy (default: the balancer's default)" },
  'no-install': { type: 'boolean', description: 'never apt-get install wrk, nginx or haproxy' },
};

export async function run(values) {
  const { write = false, quick = false, only, strategy } = values;
  const startedAt = Date.now();
  const machine = machineFacts();
  const loadAtStart = loadAverage();
  const settings = quick ? QUICK : FULL;
  let wanted;
  try {
    wanted = selectContenders(only, write);
  } catch (error) {
    log(`bench: ${error.message}`);
    return USAGE_ERROR;
  }

  const { paths, notes } = ensurePrograms(['wrk', 'nginx', 'haproxy'], {
    install: !values['no-install'],
    log,
  });
  if (paths.get('wrk') === undefined) {
    log(`bench: wrk is required: ${notes.get('wrk')}`);
    return 1;
  }
  const skipped = new Map();
  for (const program of ['nginx', 'haproxy']) {
    if (wanted.some((c) => c.id === program) && paths.get(program) === undefined) {
      skipped.set(program, notes.get(program));
    }
  }
  buildBallast(wanted, skipped);

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ballast-bench-proxy-'));
  const removeTmp = () => rmSync(tmp, { recursive: true, force: true });
  const releaseSignals = stopOnSignals(removeTmp);
  let samples;
  let active;
  try {
    const upstreams = await forkChild(path.join(here, 'upstreams.mjs'), [String(UPSTREAMS)], {
      label: 'upstreams',
    });
    const ports = upstreams.ready.ports;
    const context = { ports, urls: ports.map((p) => `http://127.0.0.1:${p}`), strategy, paths, tmp };
    active = await startContenders(
      wanted.filter((c) => !skipped.has(c.id)),
      context,
      skipped,
    );
    const scripts = new Map(METHODS.map((m) => [m.id, writeScript(tmp, m)]));
    samples = await measure(active, { upstreams, scripts, settings, wrk: paths.get('wrk'), log });
  } finally {
    await stopAll();
    releaseSignals();
    removeTmp();
  }

  const tools = ['wrk', 'nginx', 'haproxy']
    .filter((program) => paths.get(program) !== undefined)
    .map((program) => programVersion(program, paths.get(program)))
    .join(', ');
  const command = `npm run bench -- proxy${quick ? ' --quick' : ''}${strategy ? ` --strategy ${strategy}` : ''}${
    only ? ` --only ${only}` : ''
  }${write ? ' --write' : ''}`;
  const load = `load average ${loadAtStart} at start, ${loadAverage()} at the end`;
  const body = render(summarize({ samples, contenders: active.map((c) => c.id), skipped, settings }), {
    machine: `${machine}, ${load}`,
    command,
    tools,
  });
  process.stdout.write(`## Proxy\n\n${body}\n`);
  if (write) {
    writeSection(DOCS, { name: 'proxy', heading: 'Proxy', body });
    log(`wrote the Proxy section of ${path.relative(process.cwd(), DOCS)}`);
  }
  log(`done in ${Math.round((Date.now() - startedAt) / 1000)} s`);
}

/**
 * The contenders `--only` names (always with the two every ratio needs), in table order; without
 * it, all but the optional diagnostics.
 */
function selectContenders(only, write) {
  if (only === undefined) return CONTENDERS.filter((c) => !c.optional);
  const names = new Set(only.split(',').map((name) => name.trim()));
  const unknown = [...names].filter((name) => !CONTENDERS.some((c) => c.id === name));
  if (unknown.length > 0) throw new Error(`--only: unknown contender ${unknown.join(', ')}`);
  if (write) throw new Error('--write records the full table: drop --only');
  names.add(DIRECT).add(BASELINE);
  return CONTENDERS.filter((c) => names.has(c.id));
}

/**
 * Builds the Ballast packages the chosen rows need (core and node first: the adapters' builds
 * read their types); a package that is missing or fails to build skips its rows.
 */
function buildBallast(wanted, skipped) {
  const needed = new Set(wanted.filter((c) => c.package).map((c) => c.package));
  if (needed.size === 0) return;
  const order = ['core', 'node', ...[...needed].filter((name) => name !== 'node')];
  const broken = new Map();
  for (const name of order) {
    if (!hasPackage(name)) {
      broken.set(name, `packages/${name} does not exist yet`);
      continue;
    }
    try {
      ensureBuilt(name, log);
    } catch (error) {
      broken.set(name, error.message);
    }
  }
  for (const c of wanted) {
    if (!c.package) continue;
    const why = broken.get('core') ?? broken.get('node') ?? broken.get(c.package);
    if (why !== undefined) skipped.set(c.id, why);
  }
}

async function startContenders(contenders, context, skipped) {
  const started = [];
  for (const c of contenders) {
    try {
      const handle = await startContender(c, context);
      await check(c, handle.port);
      started.push({ ...c, ...handle });
    } catch (error) {
      log(`proxy: skipping ${c.id}: ${error.message}`);
      skipped.set(c.id, error.message.split('\n')[0]);
    }
  }
  for (const id of [DIRECT, BASELINE]) {
    if (!started.some((c) => c.id === id)) throw new Error(`${id} could not run: ${skipped.get(id)}`);
  }
  return started;
}

async function startContender(c, { ports, urls, strategy, paths, tmp }) {
  switch (c.kind) {
    case 'direct':
      return { port: ports[0], pid: undefined, stop: async () => {} };
    case 'nginx':
      return startNginx(paths.get('nginx'), ports, tmp);
    case 'haproxy':
      return startHaproxy(paths.get('haproxy'), ports, tmp);
    default: {
      const handle = await forkChild(
        path.join(here, 'contender.mjs'),
        [JSON.stringify({ id: c.id, urls, strategy })],
        {
          label: c.id,
        },
      );
      return { ...handle, port: handle.ready.port };
    }
  }
}

/**
 * Refuses a contender that does not really proxy (a fast 502 would win every row): its GETs must
 * come back 200 from the upstreams and its POST must deliver all 64 KiB.
 */
async function check(c, port) {
  const url = `http://127.0.0.1:${port}/check`;
  const seen = new Set();
  for (let i = 0; i < 12; i++) {
    const response = await fetch(url);
    const body = await response.text();
    if (response.status !== 200) throw new Error(`GET answered ${response.status}: ${body.slice(0, 200)}`);
    seen.add(JSON.parse(body).upstream);
  }
  for (const { id, bodyBytes } of METHODS.filter((m) => m.bodyBytes > 0)) {
    const response = await fetch(url, { method: id, body: Buffer.alloc(bodyBytes, 120) });
    const body = await response.text();
    const received = response.status === 200 ? JSON.parse(body).received : undefined;
    if (received !== bodyBytes) {
      throw new Error(`${id} of ${bodyBytes} bytes answered ${response.status} (${body.slice(0, 200)})`);
    }
  }
  if (c.id !== DIRECT && seen.size < UPSTREAMS) {
    log(`proxy: note: ${c.id} sent 12 sequential GETs to ${seen.size} of ${UPSTREAMS} upstreams`);
  }
}
