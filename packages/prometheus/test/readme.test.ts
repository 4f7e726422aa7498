import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { transformSync } from '@swc/core';
import * as core from '@ballast/core';
import * as prometheus from '../src';

/** The README's runnable example, compiled and run against the sources: documentation that runs. */
it('runs the README example: Express serves /metrics with the requests counted', async () => {
  const readme = readFileSync(path.join(__dirname, '../README.md'), 'utf8');
  const match = /<!-- example:prometheus -->\s*```ts\n([\s\S]*?)```/.exec(readme);
  expect(match).not.toBeNull();
  const { code } = transformSync(match![1]!, {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  expect(code).toContain('main().catch(');
  const body = code.replace('main().catch(', 'return main().catch(');
  const logged: unknown[][] = [];
  const errors: unknown[][] = [];
  const fakeConsole = {
    log: (...args: unknown[]) => logged.push(args),
    error: (...args: unknown[]) => errors.push(args),
  };
  const modules: Record<string, unknown> = { '@ballast/core': core, '@ballast/prometheus': prometheus };
  const fakeRequire = (name: string): unknown => modules[name] ?? createRequire(__filename)(name);
  await (new Function('require', 'console', 'exports', body) as (...args: unknown[]) => Promise<void>)(
    fakeRequire,
    fakeConsole,
    {},
  );
  expect(errors).toEqual([]);
  expect(logged).toEqual([
    [
      [
        'ballast_requests_total{service="users",instance="users-0",outcome="success"} 2',
        'ballast_requests_total{service="users",instance="users-0",outcome="failure"} 0',
        'ballast_requests_total{service="users",instance="users-1",outcome="success"} 2',
        'ballast_requests_total{service="users",instance="users-1",outcome="failure"} 0',
      ],
    ],
  ]);
});
