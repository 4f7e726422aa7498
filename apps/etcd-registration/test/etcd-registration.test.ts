import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

import type { BalancerSnapshot } from '@ballast/core';
import { request, startEtcd, waitFor, type Etcd } from '@ballast/testing';

// Smoke test of the example: a real etcd (Debian package etcd-server), two service processes
// that register themselves, and the gateway process that discovers them.
const APP = path.join(__dirname, '..');

let etcd: Etcd;
const running: Array<{ child: ChildProcess; exited: Promise<number | null>; output: () => string }> = [];

beforeAll(async () => {
  etcd = await startEtcd();
}, 30_000);

afterAll(async () => {
  for (const { child } of running) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(running.map((r) => r.exited));
  await etcd?.close();
});

/** Starts one of the app's scripts; resolves once its output matches `ready`. */
async function start(script: string, env: Record<string, string>, ready: RegExp) {
  const child = spawn(process.execPath, [path.join(APP, script)], {
    env: { ...process.env, ETCD_URL: etcd.url, SERVICE: 'hello', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc = { child, exited, output: () => out };
  running.push(proc);
  await waitFor(() => ready.test(out) || child.exitCode !== null, {
    timeoutMs: 20_000,
    message: `${script} to start`,
  });
  if (!ready.test(out)) throw new Error(`${script} did not start; it printed:\n${out}`);
  return { ...proc, match: ready.exec(out)! };
}

test('services register themselves in etcd and the gateway balances over them', async () => {
  const one = await start('service.mjs', { ID: 'hello-1' }, /Registered hello-1 at (\S+)/);
  const two = await start('service.mjs', { ID: 'hello-2' }, /Registered hello-2 at (\S+)/);
  const gateway = await start('gateway.mjs', { PORT: '0' }, /Gateway listening on (http:\/\/\S+),/);
  const url = gateway.match[1]!;

  /** Polls the gateway's status page until `done` holds for it (10 s at most). */
  const statusWhen = async (done: (s: BalancerSnapshot) => boolean): Promise<BalancerSnapshot> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const snapshot = (await request(`${url}/ballast/status`)).json<BalancerSnapshot>();
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
    'hello-1': `${one.match[1]}/`,
    'hello-2': `${two.match[1]}/`,
  });

  const answers = await Promise.all(Array.from({ length: 8 }, () => request(`${url}/hi`)));
  expect(answers.map((r) => r.status)).toEqual(Array(8).fill(200));
  expect(new Set(answers.map((r) => r.json<{ instance: string }>().instance))).toEqual(
    new Set(['hello-1', 'hello-2']),
  );

  // A service that stops deregisters; the gateway stops sending to it.
  two.child.kill('SIGTERM');
  expect(await two.exited).toBe(0);
  expect(two.output()).toContain('deregistered hello-2');
  const after = await statusWhen((s) => s.instances.every((i) => i.id !== 'hello-2'));
  expect(after.instances.map((i) => i.id)).toEqual(['hello-1']);
  const later = await Promise.all(Array.from({ length: 4 }, () => request(`${url}/hi`)));
  expect(later.map((r) => r.json<{ instance: string }>().instance)).toEqual(Array(4).fill('hello-1'));

  for (const proc of [gateway, one]) proc.child.kill('SIGTERM');
  expect(await gateway.exited).toBe(0);
  expect(await one.exited).toBe(0);
  expect(gateway.output()).toContain('Stopped.');
}, 60_000);
