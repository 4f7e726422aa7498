import path from 'node:path';

import { runReadmeExample } from '@ballast/testing';

import * as node from '../src';

/** The README's runnable example, compiled and run against the sources: documentation that runs. */
it('runs the README example', async () => {
  const { logged, errors } = await runReadmeExample(path.join(__dirname, '../README.md'), 'node', {
    '@ballast/node': node,
  });
  expect(errors).toEqual([]);
  expect(logged.slice(0, 4).map(([status]) => status)).toEqual([200, 200, 200, 200]);
  const answers = logged.slice(0, 4).map(([, text]) => String(text));
  expect(answers.filter((text) => text.startsWith('a answered GET /users/'))).toHaveLength(2);
  expect(answers.filter((text) => text.startsWith('b answered GET /users/'))).toHaveLength(2);
  expect(logged[4]![0]).toEqual(['requests=2 health=1', 'requests=2 health=1']);
});
