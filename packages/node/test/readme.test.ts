import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { transformSync } from '@swc/core';
import * as node from '../src';

/** The README's runnable example, compiled and run against the sources: documentation that runs. */
it('runs the README example', async () => {
  const readme = readFileSync(path.join(__dirname, '../README.md'), 'utf8');
  const match = /<!-- example:node -->\s*```ts\n([\s\S]*?)```/.exec(readme);
  expect(match).not.toBeNull();
  const { code } = transformSync(match![1]!, {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  // Hand back main()'s promise so the test can wait for the shutdown.
  expect(code).toContain('main().catch(');
  const body = code.replace('main().catch(', 'return main().catch(');
  const logged: unknown[][] = [];
  const errors: unknown[][] = [];
  const fakeConsole = {
    log: (...args: unknown[]) => logged.push(args),
    error: (...args: unknown[]) => errors.push(args),
  };
  const fakeRequire = (name: string): unknown =>
    name === '@ballast/node' ? node : createRequire(__filename)(name);
  await (new Function('require', 'console', 'exports', body) as (...args: unknown[]) => Promise<void>)(
    fakeRequire,
    fakeConsole,
    {},
  );
  expect(errors).toEqual([]);
  expect(logged.slice(0, 4).map(([status]) => status)).toEqual([200, 200, 200, 200]);
  const answers = logged.slice(0, 4).map(([, text]) => String(text));
  expect(answers.filter((text) => text.startsWith('a answered GET /users/'))).toHaveLength(2);
  expect(answers.filter((text) => text.startsWith('b answered GET /users/'))).toHaveLength(2);
  expect(logged[4]![0]).toEqual(['requests=2 health=1', 'requests=2 health=1']);
});
