// `npm run bench -- pick [--write] [--quick]`: nanoseconds per pick() + release() for every
// built-in strategy at 3 to 10,000 instances, and memory per instance.
//
// This process only orchestrates: it runs one timing process per strategy (see
// time-strategy.mjs for why), one after another so that only one benchmark process runs at a
// time, several passes over the list so that a noisy minute hits every strategy alike, then one
// memory process, and prints the Markdown (or writes it into docs/benchmarks.md with --write).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

import { commonOptions, ensureCoreBuilt, log, root } from '../lib/core.mjs';
import { loadAverage, machineFacts, writeSection } from '../lib/markdown.mjs';
import { MEMORY_SIZE } from './plan.mjs';
import { render, summarize } from './report.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const DOCS = path.join(root, 'docs/benchmarks.md');

/** A full run takes about a minute on 2 cores; --quick is a smoke test of the tool. */
const FULL = { passes: 3, timing: { roundMs: 10, rounds: 10, warmupRounds: 2 } };
const QUICK = { passes: 1, timing: { roundMs: 4, rounds: 3, warmupRounds: 1 } };

export const summary = 'ns per pick() + release() per strategy and pool size, memory per instance';
export const options = {
  ...commonOptions(),
};

export async function run({ write = false, quick = false }) {
  const startedAt = Date.now();
  const machine = machineFacts();
  const loadAtStart = loadAverage();
  ensureCoreBuilt(log);
  const strategies = await builtinStrategies();
  const settings = quick ? QUICK : FULL;

  const timings = timeStrategies(strategies, settings);
  log(`memory per instance at ${MEMORY_SIZE} instances`);
  const memory = runChild('memory.mjs', [JSON.stringify({ size: MEMORY_SIZE, strategies })], ['--expose-gc']);

  const command = `npm run bench -- pick${quick ? ' --quick' : ''}${write ? ' --write' : ''}`;
  const load = `load average ${loadAtStart} at start, ${loadAverage()} at the end`;
  const body = render(summarize({ strategies, timings, memory, settings }), {
    machine: `${machine}, ${load}`,
    command,
  });
  process.stdout.write(`## Pick\n\n${body}\n`);
  if (write) {
    writeSection(DOCS, { name: 'pick', heading: 'Pick', body });
    log(`wrote the Pick section of ${path.relative(process.cwd(), DOCS)}`);
  }
  log(`done in ${Math.round((Date.now() - startedAt) / 1000)} s`);
}

/** Every strategy name the core exports that it can build (reserved names are skipped). */
async function builtinStrategies() {
  const { createBalancer, STRATEGY_NAMES } = await import('@ballast/core');
  return STRATEGY_NAMES.filter((strategy) => {
    try {
      createBalancer({ strategy }).close();
      return true;
    } catch (error) {
      if (error?.code !== 'BALLAST_INVALID_CONFIG') throw error;
      log(`skipping ${strategy}: ${error.message}`);
      return false;
    }
  });
}

function timeStrategies(strategies, { passes, timing }) {
  const timings = [];
  for (let pass = 1; pass <= passes; pass++) {
    for (const strategy of strategies) {
      log(`timing ${strategy} (pass ${pass} of ${passes})`);
      timings.push(runChild('time-strategy.mjs', [strategy, JSON.stringify(timing)]));
    }
  }
  return timings;
}

/** Runs a script of this folder in a fresh Node process and returns the JSON it prints. */
function runChild(script, args, nodeFlags = []) {
  const result = spawnSync(process.execPath, [...nodeFlags, path.join(here, script), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new Error(
      `${script} ${args[0] ?? ''} failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`})`,
    );
  }
  return JSON.parse(result.stdout.trim().split('\n').at(-1));
}
