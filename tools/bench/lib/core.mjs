// Makes sure the benchmarks measure the current @ballast/* packages as users get them: the tsc
// build behind each package's public entry, not a transpilation of our own. `npm run bench` has to
// work right after `npm ci`, so a missing build is made here; a build older than its sources is
// rebuilt too, or the figures would describe code that no longer exists.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Files the build writes last-but-surely: the CJS entry and the ESM wrapper over it. */
const BUILD_OUTPUTS = ['dist/cjs/index.js', 'dist/esm/index.mjs'];
const BUILD_INPUTS = ['src', 'package.json', 'tsconfig.json'];
/** Tests live beside the sources but are not built: editing one must not force a rebuild. */
const NOT_BUILT = /\.(test|spec)\.ts$|[\\/]__tests__[\\/]/;

/** Builds @ballast/core unless its dist/ is present and newer than every source file. */
export function ensureCoreBuilt(log) {
  ensureBuilt('core', log);
}

/**
 * Builds the workspace package `packages/<name>` unless its dist/ is present and newer than
 * every source file. Build a package's workspace dependencies first: the package's build reads
 * their type declarations. Throws when the build fails.
 */
export function ensureBuilt(name, log) {
  const dir = packageDir(name);
  const reason = staleReason(dir);
  if (reason === undefined) return;
  log(`@ballast/${name}: ${reason}, building it (npm run build -w @ballast/${name})`);
  // Build output goes to stderr: stdout carries only the benchmark's Markdown.
  const result = spawnSync('npm', ['run', 'build', '-w', `@ballast/${name}`], {
    cwd: root,
    stdio: ['ignore', process.stderr, process.stderr],
    shell: process.platform === 'win32',
  });
  if (result.status !== 0) {
    throw new Error(`building @ballast/${name} failed (${result.error?.message ?? `exit ${result.status}`})`);
  }
}

/** Whether the workspace has the sources of `packages/<name>` (a package still being written may not). */
export function hasPackage(name) {
  const dir = packageDir(name);
  return existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'src/index.ts'));
}

function packageDir(name) {
  return path.join(root, 'packages', name);
}

function staleReason(dir) {
  const outputs = BUILD_OUTPUTS.map((file) => path.join(dir, file));
  if (!outputs.every(existsSync)) return 'no build found';
  const builtAt = Math.min(...outputs.map((file) => statSync(file).mtimeMs));
  const newer = BUILD_INPUTS.flatMap((entry) => filesUnder(path.join(dir, entry))).find(
    (file) => !NOT_BUILT.test(file) && statSync(file).mtimeMs > builtAt,
  );
  return newer === undefined ? undefined : `${path.relative(dir, newer)} changed since the last build`;
}

function filesUnder(entry) {
  if (!existsSync(entry)) return [];
  if (!statSync(entry).isDirectory()) return [entry];
  return readdirSync(entry).flatMap((name) => filesUnder(path.join(entry, name)));
}

/** Progress lines go to stderr, so that stdout carries only the report. */
export const log = (message) => process.stderr.write(`${message}\n`);

/** The options every benchmark takes: `--write`, and `--quick` as `quick` describes it. */
export function commonOptions(quick = 'a short, rough run to check that the benchmark works') {
  return {
    write: { type: 'boolean', description: 'also write the results into docs/benchmarks.md' },
    quick: { type: 'boolean', description: quick },
  };
}
