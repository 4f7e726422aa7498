import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { transformSync } from '@swc/core';
import * as core from '@ballast/core';
import * as node from '../src';

/**
 * Runs the README example marked `<!-- example:<name> -->`, compiled, against the sources:
 * documentation that runs. Resolves with what it logged.
 */
async function runExample(name: string): Promise<unknown[][]> {
  const readme = readFileSync(path.join(__dirname, '../README.md'), 'utf8');
  const match = new RegExp(`<!-- example:${name} -->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(readme);
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
  const modules: Record<string, unknown> = { '@ballast/node': node, '@ballast/core': core };
  const fakeRequire = (id: string): unknown => modules[id] ?? createRequire(__filename)(id);
  await (new Function('require', 'console', 'exports', body) as (...args: unknown[]) => Promise<void>)(
    fakeRequire,
    fakeConsole,
    {},
  );
  expect(errors).toEqual([]);
  return logged;
}

it('runs the README example', async () => {
  const logged = await runExample('node');
  expect(logged.slice(0, 4).map(([status]) => status)).toEqual([200, 200, 200, 200]);
  const answers = logged.slice(0, 4).map(([, text]) => String(text));
  expect(answers.filter((text) => text.startsWith('a answered GET /users/'))).toHaveLength(2);
  expect(answers.filter((text) => text.startsWith('b answered GET /users/'))).toHaveLength(2);
  expect(logged[4]![0]).toEqual(['requests=2 health=1', 'requests=2 health=1']);
});

it('runs the README status page example', async () => {
  const logged = await runExample('status');
  expect(String(logged[0]![0])).toMatch(/^status page: http:\/\/127\.0\.0\.1:\d+\/\?token=change-me$/);
  expect(logged.slice(1)).toEqual([['one', 'healthy', 5], [401]]);
});
