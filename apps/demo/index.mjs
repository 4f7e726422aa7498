#!/usr/bin/env node
// `npm start`: a placeholder demo until the adapters land. Lists the workspace packages and
// how to build and test them.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function packagesIn(group) {
  const dir = path.join(root, group);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, 'package.json')))
    .map((entry) => {
      const pkg = JSON.parse(readFileSync(path.join(dir, entry.name, 'package.json'), 'utf8'));
      const built = existsSync(path.join(dir, entry.name, 'dist'));
      return {
        name: pkg.name,
        version: pkg.version ?? '',
        dir: `${group}/${entry.name}`,
        built,
        description: pkg.description ?? '',
      };
    });
}

const packages = ['packages', 'apps', 'tools'].flatMap(packagesIn);

console.log('Ballast — health-aware load balancing for Node.js\n');
console.log('Workspace packages:');
for (const pkg of packages) {
  console.log(
    `  ${pkg.name.padEnd(22)} ${pkg.version.padEnd(8)} ${pkg.dir.padEnd(22)} ${pkg.built ? 'built' : 'not built'}`,
  );
  if (pkg.description) console.log(`  ${''.padEnd(22)} ${pkg.description}`);
}
console.log(`
Commands:
  npm test                 run every package's tests (Jest, against the sources; no build needed)
  npm run build            build every package to dist/ (CommonJS + ESM entry + .d.ts) through Nx
  npm run lint             ESLint with the house rules, then the dependency-rule check
  npm run typecheck        type-check sources and tests of every package
  npm run check:exports    after a build: load each package with require() and import() from a clean project
  npx nx run @ballast/core:test   one package's target (cached by Nx)
`);
