#!/usr/bin/env node
// `npm run check:exports` (after `npm run build`): installs each built package the way a user
// would get it and loads it from a plain Node project outside the workspace.
//
// For every packages/* with an `exports` map: `npm pack` (so the `files` whitelist is what gets
// tested), unpack into <tmp>/node_modules/<name>, link its dependencies and peerDependencies from
// the workspace's node_modules, then in a fresh `node` process check that
//   - require(name) and import(name) both work and expose the same names with the same values
//     (the ESM entry must wrap the very same CommonJS instance),
//   - a static `import { ... } from name` in an .mjs file works,
//   - for @ballast/core: createBalancer is a function, identical through both;
// and finally that TypeScript resolves the types for both a .cts and a .mts consumer.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(import.meta.url);
const keep = process.argv.includes('--keep');
/** Names every package must export, checked through require, import() and static import. */
const requiredExports = { '@ballast/core': ['createBalancer'] };

function run(cmd, args, options) {
  const result = spawnSync(cmd, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
    throw new Error(`${cmd} ${args.join(' ')} failed (${result.status ?? result.signal})\n${output}`);
  }
  return result.stdout;
}

const packages = readdirSync(path.join(root, 'packages'), { withFileTypes: true })
  .filter(
    (entry) => entry.isDirectory() && existsSync(path.join(root, 'packages', entry.name, 'package.json')),
  )
  .map((entry) => {
    const dir = path.join(root, 'packages', entry.name);
    return { dir, pkg: JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) };
  })
  .filter(({ pkg }) => pkg.exports && !pkg.private);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ballast-exports-'));
let failures = 0;
try {
  const modules = path.join(tmp, 'node_modules');
  mkdirSync(modules);
  writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));

  // 1. Install every package from its tarball.
  for (const { dir, pkg } of packages) {
    if (!existsSync(path.join(dir, 'dist')))
      throw new Error(`${pkg.name} has no dist/: run \`npm run build\` first`);
    const [packed] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: dir }));
    const target = path.join(modules, pkg.name);
    mkdirSync(target, { recursive: true });
    run('tar', ['-xzf', path.join(tmp, packed.filename), '-C', target, '--strip-components=1']);
  }

  // 2. Link third-party dependencies and peers (and @types/node for the TypeScript check) from the
  //    workspace; Node follows the symlinks, so their own dependencies resolve there too.
  const linked = new Set(packages.map(({ pkg }) => pkg.name));
  const thirdParty = packages.flatMap(({ pkg }) => [
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.peerDependencies ?? {}),
  ]);
  for (const name of [...thirdParty, '@types/node']) {
    if (linked.has(name)) continue;
    linked.add(name);
    const source = path.join(root, 'node_modules', name);
    if (!existsSync(source)) throw new Error(`dependency ${name} is not installed in the workspace`);
    mkdirSync(path.dirname(path.join(modules, name)), { recursive: true });
    symlinkSync(source, path.join(modules, name), 'dir');
  }

  // 3. Load each package through require, import() and a static import, in fresh processes.
  for (const { pkg } of packages) {
    const name = pkg.name;
    const required = requiredExports[name] ?? [];
    const dynamic = `
      const assert = require('node:assert/strict');
      const cjs = require(${JSON.stringify(name)});
      import(${JSON.stringify(name)}).then((esm) => {
        const cjsNames = Object.keys(cjs).filter((n) => n !== '__esModule').sort();
        const esmNames = Object.keys(esm).filter((n) => n !== 'default').sort();
        assert.ok(cjsNames.length > 0, 'require() returned no exports');
        assert.deepEqual(esmNames, cjsNames, 'import() and require() expose different names');
        for (const n of cjsNames) assert.equal(esm[n], cjs[n], 'import().' + n + ' !== require().' + n);
        assert.equal(esm.default, cjs, 'the default export is not module.exports');
        for (const n of ${JSON.stringify(required)}) {
          assert.equal(typeof cjs[n], 'function', 'require().' + n + ' is not a function');
          assert.equal(typeof esm[n], 'function', 'import().' + n + ' is not a function');
        }
        console.log(cjsNames.length + ' exports');
      }).catch((error) => { console.error(error); process.exit(1); });`;
    const staticImport =
      `import * as ns from ${JSON.stringify(name)};\n` +
      (required.length > 0 ? `import { ${required.join(', ')} } from ${JSON.stringify(name)};\n` : '') +
      `if (Object.keys(ns).length < 2) throw new Error('static import exposes no names');\n` +
      required
        .map((n) => `if (typeof ${n} !== 'function') throw new Error('${n} is not a function');\n`)
        .join('');
    const slug = name.replace(/[@/]/g, '_');
    writeFileSync(path.join(tmp, `${slug}.cjs`), dynamic);
    writeFileSync(path.join(tmp, `${slug}.mjs`), staticImport);
    try {
      const out = run(process.execPath, [`${slug}.cjs`], { cwd: tmp }).trim();
      run(process.execPath, [`${slug}.mjs`], { cwd: tmp });
      console.log(`ok   ${name}: require, import() and static import agree (${out})`);
    } catch (error) {
      failures += 1;
      console.error(`FAIL ${name}: ${error.message}`);
    }
  }

  // 4. TypeScript consumers, CommonJS (.cts) and ESM (.mts), resolve the types of both conditions.
  const imports = packages
    .map(({ pkg }, i) => `import * as p${i} from ${JSON.stringify(pkg.name)};\nvoid p${i};\n`)
    .join('');
  const typed = Object.entries(requiredExports)
    .filter(([name]) => linked.has(name))
    .map(
      ([name, fns]) =>
        `import { ${fns.join(', ')} } from ${JSON.stringify(name)};\nvoid [${fns.join(', ')}];\n`,
    )
    .join('');
  writeFileSync(path.join(tmp, 'consumer.cts'), imports + typed);
  writeFileSync(path.join(tmp, 'consumer.mts'), imports + typed);
  try {
    const tsc = require.resolve('typescript/bin/tsc');
    run(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--module',
        'node20',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--types',
        'node',
        'consumer.cts',
        'consumer.mts',
      ],
      { cwd: tmp },
    );
    console.log(
      `ok   TypeScript (.cts and .mts consumers) resolves the types of ${packages.length} package(s)`,
    );
  } catch (error) {
    // Errors inside third-party declarations (a framework's @types package disagreeing with a
    // dependency hoisted by another workspace package) are not ours to judge: only those in the
    // consumers and in our own packages' declarations fail the check.
    const diagnostics = error.message.split('\n').filter((line) => /\(\d+,\d+\): error TS/.test(line));
    const ours = diagnostics.filter((line) => !/node_modules\/(?!@ballast\/)/.test(line.split('(')[0]));
    if (diagnostics.length > 0 && ours.length === 0) {
      console.log(
        `ok   TypeScript (.cts and .mts consumers) resolves the types of ${packages.length} package(s)` +
          ` (ignored ${diagnostics.length} error(s) inside third-party declarations: ${diagnostics[0]})`,
      );
    } else {
      failures += 1;
      console.error(`FAIL TypeScript consumers: ${error.message}`);
    }
  }
} catch (error) {
  failures += 1;
  console.error(`FAIL ${error.message}`);
} finally {
  if (keep) console.log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}

if (failures > 0) {
  console.error(`check-exports: ${failures} failure(s)`);
  process.exit(1);
}
console.log('check-exports: all packages load through require and import');
