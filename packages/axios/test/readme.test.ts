import path from 'node:path';

import { runReadmeExample } from '@ballast/testing';

import * as ballastAxios from '../src';

it('runs the README example', async () => {
  const { logged, errors } = await runReadmeExample(path.join(__dirname, '../README.md'), 'axios', {
    '@ballast/axios': ballastAxios,
  });

  expect(errors).toEqual([]);
  expect(logged.slice(0, 4)).toEqual([
    ['a', '/api/users/1'],
    ['b', '/api/users/2'],
    ['a', '/api/users/3'],
    ['b', '/api/users/4'],
  ]);
  expect(logged[4]).toEqual(['a a a a']);
  const counts = logged[5]![0] as string[];
  expect(counts[0]).toMatch(/ requests=\d+ failures=0$/);
  expect(counts[1]).toMatch(/ requests=\d+ failures=[1-9]\d*$/);
});
