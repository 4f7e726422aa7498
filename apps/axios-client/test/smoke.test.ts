import http from 'node:http';
import path from 'node:path';

import {
  closeServer,
  listen,
  runToExit,
  startProcess,
  startUpstreams,
  type Upstream,
} from '@ballast/testing';

let upstreams: Upstream[] = [];
afterEach(async () => {
  await Promise.all(upstreams.map((u) => u.close()));
});

test('the axios worker fails over from a dead instance, reports it ejected, and loses no request', async () => {
  upstreams = await startUpstreams(['u1', 'u2']);
  // A third instance whose port refuses connections: a process that died.
  const dead = http.createServer();
  const deadUrl = await listen(dead);
  await closeServer(dead);
  const worker = await startProcess(path.join(__dirname, '../src/main.ts'), {
    args: ['--count', '30'],
    env: { USERS_INSTANCES: [...upstreams.map((u) => u.url), deadUrl].join(',') },
    ready: /done: (\d+) requests, (\d+) errors/,
    timeoutMs: 30_000,
  });
  expect(await worker.stop()).toBe(0);
  const out = worker.output();
  expect(out).toMatch(/done: 30 requests, 0 errors/);
  expect(out).toMatch(/answered by (u[12]:\d+ ?)+/);
  expect(out).toContain(`${deadUrl.replace('http://127.0.0.1:', ':')} ejected`);
  expect(upstreams[0]!.count() + upstreams[1]!.count()).toBe(30);
}, 40_000);

test('the axios worker reports an instance that comes back', async () => {
  upstreams = await startUpstreams(['u1', 'u2']);
  // A third instance down at first, listening again on its port after 1.5 s.
  const phoenix = http.createServer((_req, res) => res.end('{"name":"u3"}'));
  const phoenixUrl = await listen(phoenix);
  await closeServer(phoenix);
  const back = setTimeout(() => phoenix.listen(Number(new URL(phoenixUrl).port), '127.0.0.1'), 1_500);
  try {
    const worker = await startProcess(path.join(__dirname, '../src/main.ts'), {
      args: ['--count', '90'],
      env: { USERS_INSTANCES: [...upstreams.map((u) => u.url), phoenixUrl].join(',') },
      ready: /done: (\d+) requests/,
      timeoutMs: 30_000,
    });
    expect(await worker.stop()).toBe(0);
    const id = phoenixUrl.replace('http://127.0.0.1:', ':');
    // Ejected after three failures in a row, back when its ejection (5 s) is over.
    expect(worker.output()).toContain(`${id} ejected`);
    expect(worker.output()).toContain(`${id} back (ejection-expired)`);
    expect(worker.output()).toMatch(/done: 90 requests, 0 errors/);
  } finally {
    clearTimeout(back);
    await closeServer(phoenix);
  }
}, 40_000);

describe('a bad flag stops the worker with one clear line, not a stack trace or an endless run', () => {
  test.each([
    [['--bogus'], /^axios-client: .*--bogus/m],
    [['--count'], /^axios-client: .*--count/m],
    [['--count', 'abc'], /^axios-client: --count must be a positive integer, got "abc"/m],
    [['--count', '-3'], /^axios-client: .*(--count|-3)/m],
    [['--count', '0'], /^axios-client: --count must be a positive integer, got "0"/m],
  ])(
    '%j',
    (args, message) => {
      const { status, output } = runToExit(path.join(__dirname, '../src/main.ts'), { args });
      expect(status).toBe(1);
      expect(output).toMatch(message);
      expect(output).not.toMatch(/^\s+at /m);
    },
    30_000,
  );
});
