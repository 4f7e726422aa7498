import path from 'node:path';

import { runToExit } from '@ballast/testing';

import { envValue } from '../src';

const MAIN = path.join(__dirname, '..', 'src', 'main.ts');

test.each([
  [['--port'], /^upstream: .*--port/m],
  [['--fail-after', '-1'], /^upstream: .*--fail-after/m],
  [['--latency', 'abc'], /^upstream: latencyMs/m],
])('a bad flag %j stops the upstream with one clear line, not a stack trace', (args, message) => {
  const { status, output } = runToExit(MAIN, { args });
  expect(status).toBe(1);
  expect(output).toMatch(message);
  expect(output).not.toMatch(/^\s+at /m);
});

test('an empty environment variable counts as unset', () => {
  const env = { PORT: '', STRATEGY: '  ', TOKEN: 's3cret' };
  expect(envValue('PORT', env)).toBeUndefined();
  expect(envValue('STRATEGY', env)).toBeUndefined();
  expect(envValue('MISSING', env)).toBeUndefined();
  expect(envValue('TOKEN', env)).toBe('s3cret');
});
