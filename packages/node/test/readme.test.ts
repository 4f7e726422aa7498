import path from 'node:path';

import * as core from '@ballast/core';
import { runReadmeExample } from '@ballast/testing';

import * as node from '../src';

const README = path.join(__dirname, '../README.md');
const MODULES = { '@ballast/node': node, '@ballast/core': core };

/** The README's runnable examples, compiled and run against the sources: documentation that runs. */
it('runs the README example', async () => {
  const { logged, errors } = await runReadmeExample(README, 'node', MODULES);
  expect(errors).toEqual([]);
  expect(logged.slice(0, 4).map(([status]) => status)).toEqual([200, 200, 200, 200]);
  const answers = logged.slice(0, 4).map(([, text]) => String(text));
  expect(answers.filter((text) => text.startsWith('a answered GET /users/'))).toHaveLength(2);
  expect(answers.filter((text) => text.startsWith('b answered GET /users/'))).toHaveLength(2);
  expect(logged[4]![0]).toEqual(['requests=2 health=1', 'requests=2 health=1']);
});

it('runs the README status page example', async () => {
  const { logged, errors } = await runReadmeExample(README, 'status', MODULES);
  expect(errors).toEqual([]);
  expect(String(logged[0]![0])).toMatch(/^status page: http:\/\/127\.0\.0\.1:\d+\/\?token=change-me$/);
  expect(logged.slice(1)).toEqual([['one', 'healthy', 5], [401]]);
});
