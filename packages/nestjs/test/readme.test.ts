import 'reflect-metadata';

import path from 'node:path';

import { runReadmeExample } from '@ballast/testing';
import * as nestCommon from '@nestjs/common';
import * as nestConfig from '@nestjs/config';
import * as nestCore from '@nestjs/core';
import * as nestTerminus from '@nestjs/terminus';

import * as ballastNest from '../src';

test('the README example proxies /users, fails over in the balanced client and reports health', async () => {
  // The example gets the very modules under test: Nest as jest compiled it, and the sources.
  const { logged, errors } = await runReadmeExample(path.join(__dirname, '../README.md'), 'nestjs', {
    '@ballast/nestjs': ballastNest,
    '@nestjs/common': nestCommon,
    '@nestjs/config': nestConfig,
    '@nestjs/core': nestCore,
    '@nestjs/terminus': nestTerminus,
    'reflect-metadata': {},
  });

  expect(errors).toEqual([]);
  expect(logged[0]).toEqual(['/users/42']);
  expect(logged[1]).toEqual(['orders-2 orders-2 orders-2 orders-2']);
  expect(logged[2]![0]).toBe('ok');
  expect(logged[2]![1]).toMatchObject({ status: 'up', total: 2 });
  expect(logged).toHaveLength(3);
});
