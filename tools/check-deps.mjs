#!/usr/bin/env node
// Dependency rule of ARCHITECTURE.md, checked on every `npm run lint`:
//   - @ballast/core has no runtime dependencies (no dependencies, peer-, optional- or bundled ones);
//   - arrows point toward core: core imports no workspace package, node imports no adapter;
//   - no adapter imports another adapter, in code or in package.json.
// Import specifiers come from TypeScript's pre-processor: static imports and exports, import()
// and require() calls, import types; never comments (TSDoc examples may name other packages).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ADAPTERS = ['express', 'koa', 'nestjs', 'axios'];
/** Workspace packages each package must not import (beyond the adapter-to-adapter rule). */
const FORBIDDEN = {
  core: () => true,
  node: (target) => ADAPTERS.includes(target),
};
/**
 * The one sanctioned adapter-to-adapter arrow: issue 5 specifies that the Nest module's
 * `@InjectBalancedHttp()` hands out axios instances wired through @ballast/axios (an optional
 * peer), rather than a second copy of the interceptor logic.
 */
const ALLOWED = { nestjs: ['axios'] };
const SOURCE = /\.(c|m)?[jt]sx?$/;
const WORKSPACE_SPECIFIER = /^@ballast\/([a-z0-9-]+)(?:\/|$)/;
const errors = [];

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));

function* sourceFiles(dir) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (['node_modules', 'dist', 'coverage', 'tmp'].includes(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(full);
    else if (SOURCE.test(entry.name)) yield full;
  }
}

const packagesDir = path.join(root, 'packages');
const packages = readdirSync(packagesDir, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(path.join(packagesDir, entry.name, 'package.json')))
  .map((entry) => entry.name);

for (const dir of packages) {
  const pkgFile = path.join(packagesDir, dir, 'package.json');
  const pkg = readJson(pkgFile);
  const isForbidden = (target) =>
    target !== dir &&
    !(ALLOWED[dir]?.includes(target) ?? false) &&
    ((FORBIDDEN[dir]?.(target) ?? false) || (ADAPTERS.includes(dir) && ADAPTERS.includes(target)));

  if (dir === 'core') {
    for (const field of [
      'dependencies',
      'peerDependencies',
      'optionalDependencies',
      'bundleDependencies',
      'bundledDependencies',
    ]) {
      const value = pkg[field];
      const names = Array.isArray(value) ? value : Object.keys(value ?? {});
      if (names.length > 0)
        errors.push(
          `packages/core/package.json: core has no runtime dependencies, but ${field} lists ${names.join(', ')}`,
        );
    }
  }

  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'devDependencies']) {
    for (const name of Object.keys(pkg[field] ?? {})) {
      const match = /^@ballast\/([a-z0-9-]+)$/.exec(name);
      if (match && isForbidden(match[1]))
        errors.push(`packages/${dir}/package.json: ${field} must not list ${name}`);
    }
  }

  for (const file of sourceFiles(path.join(packagesDir, dir))) {
    const text = readFileSync(file, 'utf8');
    const { importedFiles } = ts.preProcessFile(text, true, true);
    for (const { fileName, pos } of importedFiles) {
      const target = WORKSPACE_SPECIFIER.exec(fileName)?.[1];
      if (target !== undefined && isForbidden(target)) {
        const line = text.slice(0, pos).split('\n').length;
        errors.push(`${path.relative(root, file)}:${line}: @ballast/${dir} must not import ${fileName}`);
      }
    }
  }
}

if (errors.length > 0) {
  for (const error of errors) console.error(error);
  console.error(`check-deps: ${errors.length} violation(s) of the dependency rule (see ARCHITECTURE.md)`);
  process.exit(1);
}
console.log(`check-deps: dependency rule holds for ${packages.length} package(s)`);
