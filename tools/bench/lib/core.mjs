// Makes sure the benchmarks measure the current @ballast/core as users get it: the tsc build
// behind the package's public entry, not a transpilation of our own. `npm run bench` has to work
// right after `npm ci`, so a missing build is made here; a build older than its sources is
// rebuilt too, or the figures would describe code that no longer exists.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const coreDir = path.join(root, 'packages/core');
/** Files the build writes last-but-surely: the CJS entry and the ESM wrapper over it. */
const BUILD_OUTPUTS = ['dist/cjs/index.js', 'dist/esm/index.mjs'];
const BUILD_INPUTS = ['src', 'package.json', 'tsconfig.json'];
/** Tests live beside the sources but are not built: editing one must not force a rebuild. */
const NOT_BUILT = /\.(test|spec)\.ts$|[\\/]__tests__[\\/]/;

/** Builds @ballast/core unless its dist/ is present and newer than every source file. */
export function ensureCoreBuilt(log) {
  const reason = staleReason();
  if (reason === undefined) return;
  log(`@ballast/core: ${reason}, building it (npm run build -w @ballast/core)`);
  // Build output goes to stderr: stdout carries only the benchmark's Markdown.
  const result = spawnSync('npm', ['run', 'build', '-w', '@ballast/core'], {
    cwd: root,
    stdio: ['ignore', process.stderr, process.stderr],
    shell: process.platform === 'win32',
  });
  if (result.status !== 0) {
    throw new Error(`building @ballast/core failed (${result.error?.message ?? `exit ${result.status}`})`);
  }
}

function staleReason() {
  const outputs = BUILD_OUTPUTS.map((file) => path.join(coreDir, file));
  if (!outputs.every(existsSync)) return 'no build found';
  const builtAt = Math.min(...outputs.map((file) => statSync(file).mtimeMs));
  const newer = BUILD_INPUTS.flatMap((entry) => filesUnder(path.join(coreDir, entry))).find(
    (file) => !NOT_BUILT.test(file) && statSync(file).mtimeMs > builtAt,
  );
  return newer === undefined ? undefined : `${path.relative(coreDir, newer)} changed since the last build`;
}

function filesUnder(entry) {
  if (!existsSync(entry)) return [];
  if (!statSync(entry).isDirectory()) return [entry];
  return readdirSync(entry).flatMap((name) => filesUnder(path.join(entry, name)));
}
