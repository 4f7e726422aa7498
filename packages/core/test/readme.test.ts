import { readFileSync } from 'node:fs';
import path from 'node:path';
import { transformSync } from '@swc/core';
import * as core from '../src';

/** The README's core example, compiled and run against the sources: documentation that runs. */
it('runs the README core example', () => {
  const readme = readFileSync(path.join(__dirname, '../../../README.md'), 'utf8');
  const match = /<!-- example:core -->\s*```ts\n([\s\S]*?)```/.exec(readme);
  expect(match).not.toBeNull();
  const { code } = transformSync(match![1]!, {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  const logged: unknown[][] = [];
  const fakeConsole = { log: (...args: unknown[]) => logged.push(args) };
  const fakeRequire = (name: string) => {
    if (name !== '@ballast/core') throw new Error(`unexpected import ${name}`);
    return core;
  };
  new Function('require', 'console', 'exports', code)(fakeRequire, fakeConsole, {});
  expect(logged).toHaveLength(1);
  expect(String(logged[0]![0])).toContain('http://127.0.0.1:3001 healthy health=1');
});
