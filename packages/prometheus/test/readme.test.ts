import path from 'node:path';

import * as core from '@ballast/core';
import { runReadmeExample } from '@ballast/testing';

import * as prometheus from '../src';

/** The README's runnable example, compiled and run against the sources: documentation that runs. */
it('runs the README example: Express serves /metrics with the requests counted', async () => {
  const { logged, errors } = await runReadmeExample(path.join(__dirname, '../README.md'), 'prometheus', {
    '@ballast/core': core,
    '@ballast/prometheus': prometheus,
  });
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
