import http from 'node:http';
import path from 'node:path';

import type { StatusSnapshot } from '@ballast/node';
import {
  closeServer,
  listen,
  request,
  runToExit,
  startEtcd,
  startProcess,
  type Etcd,
  type StartedProcess,
} from '@ballast/testing';

// Smoke test of the example: a real etcd (Debian package etcd-server), two service processes
// that register themselves, and the gateway process that discovers them.
const SRC = path.join(__dirname, '..', 'src');

let etcd: Etcd;
const running: StartedProcess[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
}, 30_000);

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
  await etcd?.close();
});

async function start(entry: string, env: NodeJS.ProcessEnv, ready: RegExp): Promise<StartedProcess> {
  const started = await startProcess(path.join(SRC, entry), {
    env: { ETCD_URL: etcd.url, SERVICE: 'hello', ...env },
    ready,
  });
  running.push(started);
  return started;
}

test('services register themselves in etcd and the gateway balances over them', async () => {
  const one = await start('service.ts', { ID: 'hello-1' }, /Registered hello-1 at (\S+)/);
  const two = await start('service.ts', { ID: 'hello-2' }, /Registered hello-2 at (\S+)/);
  const gateway = await start('gateway.ts', { PORT: '0' }, /Gateway listening on (http:\/\/\S+),/);
  const url = gateway.match;

  /** Polls the gateway's status page until `done` holds for it (10 s at most). */
  type ServiceStatus = StatusSnapshot['services'][number];
  const statusWhen = async (done: (s: ServiceStatus) => boolean): Promise<ServiceStatus> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const snapshot = (await request(`${url}/ballast/snapshot.json`)).json<StatusSnapshot>().services[0]!;
      if (done(snapshot) || Date.now() > deadline) return snapshot;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const seen = await statusWhen((s) => s.instances.length === 2);
  expect(seen.discovery).toMatchObject({
    source: 'etcd:/ballast/services/hello/',
    state: 'ok',
    instances: 2,
  });
  expect(Object.fromEntries(seen.instances.map((i) => [i.id, i.url]))).toEqual({
    'hello-1': `${one.match}/`,
    'hello-2': `${two.match}/`,
  });

  const answers = await Promise.all(Array.from({ length: 8 }, () => request(`${url}/hi`)));
  expect(answers.map((r) => r.status)).toEqual(Array(8).fill(200));
  expect(new Set(answers.map((r) => r.json<{ instance: string }>().instance))).toEqual(
    new Set(['hello-1', 'hello-2']),
  );

  // A service that stops deregisters; the gateway stops sending to it.
  expect(await two.stop()).toBe(0);
  expect(two.output()).toContain('deregistered hello-2');
  const after = await statusWhen((s) => s.instances.every((i) => i.id !== 'hello-2'));
  expect(after.instances.map((i) => i.id)).toEqual(['hello-1']);
  const later = await Promise.all(Array.from({ length: 4 }, () => request(`${url}/hi`)));
  expect(later.map((r) => r.json<{ instance: string }>().instance)).toEqual(Array(4).fill('hello-1'));

  expect(await gateway.stop()).toBe(0);
  expect(await one.stop()).toBe(0);
  expect(gateway.output()).toContain('Stopped.');
}, 60_000);

describe('a startup error ends the example with one line and exit code 1, not a hang', () => {
  const runEntry = (entry: string, env: NodeJS.ProcessEnv) =>
    runToExit(path.join(SRC, entry), {
      env: { ETCD_URL: etcd.url, SERVICE: 'hello', ...env },
      timeoutMs: 15_000,
    });

  test.each([
    ['service.ts', { TTL_SECONDS: 'abc' }, /^service: .*ttlSeconds/m],
    ['service.ts', { ETCD_URL: 'http://127.0.0.1:1', TTL_SECONDS: '1' }, /^service: /m],
    ['gateway.ts', { PORT: 'abc' }, /^gateway: .*(port|PORT)/m],
  ])(
    '%s with %j',
    (entry, env, message) => {
      const { status, output } = runEntry(entry, env);
      expect(status).toBe(1);
      expect(output).toMatch(message);
      expect(output).not.toMatch(/^\s+at /m);
    },
    30_000,
  );

  test('gateway.ts on a busy port', async () => {
    const squatter = http.createServer();
    const { port } = new URL(await listen(squatter));
    try {
      const { status, output } = runEntry('gateway.ts', { PORT: port });
      expect(status).toBe(1);
      expect(output).toMatch(/^gateway: .*EADDRINUSE/m);
    } finally {
      await closeServer(squatter);
    }
  }, 30_000);
});
