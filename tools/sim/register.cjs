// Runs the simulator's and the example apps' TypeScript, and the packages', straight from source: `npm run sim` must
// work right after `npm ci`, with no build, and must drive the core as it is in the working tree
// (a stale dist/ would simulate code that no longer exists). Loaded with `require` before the
// entry point; it compiles each .ts file with swc (types are stripped, not checked: that is
// `npm run typecheck`'s job) and points `@ballast/<name>` at packages/<name>/src/index.ts, as
// jest.preset.cjs does for the tests.
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { transformSync } = require('@swc/core');

const root = path.resolve(__dirname, '../..');
const WORKSPACE = /^@ballast\/([a-z0-9-]+)$/;

/** @type {import('@swc/core').Options} */
const SWC = {
  swcrc: false,
  sourceMaps: 'inline',
  module: { type: 'commonjs' },
  jsc: {
    target: 'es2022',
    parser: { syntax: 'typescript', decorators: true },
    keepClassNames: true,
    // The Nest example apps run through this hook too: legacy decorators with emitted metadata,
    // as jest.preset.cjs compiles them for the tests.
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: true },
  },
};

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function resolveWorkspaceSource(request, ...rest) {
  const name = WORKSPACE.exec(request)?.[1];
  if (name !== undefined) {
    const entry = path.join(root, 'packages', name, 'src', 'index.ts');
    if (fs.existsSync(entry)) return entry;
  }
  return resolveFilename.call(this, request, ...rest);
};

// Registering '.ts' also lets CommonJS resolve extensionless relative imports ('./clock').
Module._extensions['.ts'] = function compileTypeScript(module, filename) {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), { ...SWC, filename });
  module._compile(code, filename);
};

// Stack traces point at the TypeScript lines.
process.setSourceMapsEnabled(true);
