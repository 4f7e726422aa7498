#!/usr/bin/env node
// `npm run bench [-- <benchmark>] [options]`: runs one benchmark; `pick` when none is named.
//
// Each benchmark is a module exporting `summary` (one line for the usage), `options` (a
// node:util parseArgs option table) and `run(values)`, which may resolve to an exit code. It is
// loaded only when chosen, so a benchmark that needs a build or heavy imports costs nothing to the
// others.
import process from 'node:process';
import { parseArgs } from 'node:util';

const BENCHMARKS = {
  pick: () => import('./pick/index.mjs'),
  proxy: () => import('./proxy/index.mjs'),
  status: () => import('./status/index.mjs'),
  metrics: () => import('./metrics/index.mjs'),
};
const DEFAULT = 'pick';
/** Exit code of a command-line mistake, as the shell's own builtins use it. */
const USAGE_ERROR = 2;

async function main(argv) {
  const named = argv[0] !== undefined && !argv[0].startsWith('-');
  const name = named ? argv[0] : DEFAULT;
  const rest = named ? argv.slice(1) : argv;
  if (name === 'help' || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(await usage());
    return 0;
  }
  if (!Object.hasOwn(BENCHMARKS, name)) return fail(`unknown benchmark "${name}"`);

  const benchmark = await BENCHMARKS[name]();
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: benchmark.options,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return fail(error.message);
  }
  return (await benchmark.run(values)) ?? 0;
}

async function fail(message) {
  process.stderr.write(`bench: ${message}\n\n${await usage()}`);
  return USAGE_ERROR;
}

async function usage() {
  const lines = ['Usage: npm run bench -- [benchmark] [options]', '', 'Benchmarks:'];
  for (const [name, load] of Object.entries(BENCHMARKS)) {
    const { summary, options } = await load();
    lines.push(`  ${name.padEnd(8)} ${summary}${name === DEFAULT ? ' (default)' : ''}`);
    for (const [option, { description }] of Object.entries(options)) {
      lines.push(`    --${option.padEnd(10)} ${description}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

process.exitCode = await main(process.argv.slice(2));
