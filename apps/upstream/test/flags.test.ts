import { spawnSync } from 'node:child_process';
import path from 'node:path';

const MAIN = path.join(__dirname, '..', 'src', 'main.ts');
const REGISTER = path.join(__dirname, '..', '..', '..', 'tools', 'sim', 'register.cjs');

test.each([
  [['--port'], /^upstream: .*--port/m],
  [['--fail-after', '-1'], /^upstream: .*--fail-after/m],
  [['--latency', 'abc'], /^upstream: latencyMs/m],
])('a bad flag %j stops the upstream with one clear line, not a stack trace', (args, message) => {
  const run = spawnSync(process.execPath, ['-r', REGISTER, MAIN, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  const output = `${run.stdout}${run.stderr}`;
  expect(run.status).toBe(1);
  expect(output).toMatch(message);
  expect(output).not.toMatch(/^\s+at /m);
});
