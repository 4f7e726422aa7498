import 'reflect-metadata';

import type { Server } from 'node:http';

import { failOnProcessErrors, inflight, waitFor, type EchoBody } from '@ballast/testing';
import { Module } from '@nestjs/common';
import type { AxiosInstance } from 'axios';

import {
  BallastHealthIndicator,
  BallastModule,
  BallastService,
  getBalancedHttpToken,
  type BallastModuleOptions,
} from '../src';
import { createNestHarness, instancesOf } from './nest-app';

// The balanced client's failover, cancellation and shutdown inside Nest (http.test.ts has a
// killed instance), and the indicator on an empty pool. Every test checks that no lease is left
// and no unhandled rejection happens.
failOnProcessErrors();
const h = createNestHarness();
afterEach(() => h.closeAll());

const connections = (server: Server) =>
  new Promise<number>((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));

async function serve(options: BallastModuleOptions) {
  @Module({ imports: [BallastModule.forRoot(options)] })
  class AppModule {}
  const served = await h.serve(AppModule);
  const balancer = served.app.get(BallastService).get('users');
  const client = served.app.get<string, AxiosInstance>(getBalancedHttpToken('users'));
  return { ...served, balancer, client };
}

test('a 503 is retried on another instance for GET, not for POST', async () => {
  const ups = await h.upstreams(['a', 'b']);
  ups[0]!.behaviour = (req, res) => {
    req.resume();
    res.writeHead(503).end('busy');
  };
  const app = await serve({
    logger: false,
    services: { users: { instances: instancesOf(ups), strategy: 'round-robin' } },
  });
  for (let i = 0; i < 4; i++) expect((await app.client.get<EchoBody>(`/g${i}`)).data.name).toBe('b');
  const posts = await Promise.allSettled([app.client.post('/p1', {}), app.client.post('/p2', {})]);
  expect(posts.map((p) => (p.status === 'rejected' ? p.reason.response?.status : 'ok')).sort()).toEqual([
    503,
    'ok',
  ]);
  await waitFor(() => inflight(app.balancer) === 0, { message: 'leases released' });
});

test('a POST to a refused instance is retried on another (it never reached the instance)', async () => {
  const ups = await h.upstreams(['a', 'b']);
  const app = await serve({
    logger: false,
    services: { users: { instances: instancesOf(ups), strategy: 'round-robin' } },
  });
  await ups[0]!.kill();
  const answers = await Promise.all([1, 2, 3, 4].map((i) => app.client.post<EchoBody>(`/p${i}`, { i })));
  expect(answers.map((a) => a.data.name)).toEqual(['b', 'b', 'b', 'b']);
  await waitFor(() => inflight(app.balancer) === 0, { message: 'leases released' });
});

test('a timeout (http.config.timeout) and a body cut after the headers are retried on another instance', async () => {
  const ups = await h.upstreams(['hang', 'cut', 'ok']);
  ups[0]!.behaviour = () => undefined;
  ups[1]!.behaviour = (req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('abc');
    setTimeout(() => res.destroy(), 20);
  };
  const app = await serve({
    logger: false,
    services: {
      users: {
        instances: instancesOf(ups),
        strategy: 'round-robin',
        http: { retries: 2, config: { timeout: 200 } },
      },
    },
  });
  const answers = await Promise.all([1, 2, 3].map((i) => app.client.get<EchoBody>(`/g${i}`)));
  expect(answers.map((a) => a.data.name)).toEqual(['ok', 'ok', 'ok']);
  await waitFor(() => inflight(app.balancer) === 0, { message: 'leases released' });
  const failures = Object.fromEntries(app.balancer.snapshot().instances.map((i) => [i.id, i.failures]));
  expect(failures.hang).toBeGreaterThan(0);
  expect(failures.cut).toBeGreaterThan(0);
  expect(failures.ok).toBe(0);
});

test('an AbortSignal cancels the call: not retried, lease released, instance not blamed', async () => {
  const ups = await h.upstreams(['a', 'b']);
  for (const u of ups) u.delayMs = 5_000;
  const app = await serve({
    logger: false,
    services: { users: { instances: instancesOf(ups), strategy: 'round-robin' } },
  });
  const controller = new AbortController();
  const call = app.client.get('/slow', { signal: controller.signal });
  await waitFor(() => ups[0]!.count() + ups[1]!.count() === 1, { message: 'the request upstream' });
  expect(inflight(app.balancer)).toBe(1);
  controller.abort();
  await expect(call).rejects.toMatchObject({ code: 'ERR_CANCELED' });
  await waitFor(() => inflight(app.balancer) === 0, { message: 'leases released' });
  expect(ups[0]!.count() + ups[1]!.count()).toBe(1);
  expect(app.balancer.snapshot().instances.map((i) => i.failures)).toEqual([0, 0]);
});

test('calls in flight when app.close() starts complete and release their leases; the indicator still answers', async () => {
  const ups = await h.upstreams(['a', 'b']);
  for (const u of ups) u.delayMs = 300;
  const app = await serve({ logger: false, services: { users: { instances: instancesOf(ups) } } });
  const calls = Array.from({ length: 6 }, (_, i) => app.client.get<EchoBody>(`/c${i}`));
  await waitFor(() => inflight(app.balancer) === 6, { message: 'calls in flight' });
  await Promise.all([app.close(), Promise.allSettled(calls)]);
  expect((await Promise.allSettled(calls)).map((c) => c.status)).toEqual(Array(6).fill('fulfilled'));
  expect(inflight(app.balancer)).toBe(0);
  await expect(app.client.get('/after')).rejects.toMatchObject({ code: 'BALLAST_CLOSED' });
  expect(app.app.get(BallastHealthIndicator).isHealthy('k').k.status).toBe('up');
});

test('the indicator reports a service with an empty pool down, with zero counts', async () => {
  const app = await serve({ logger: false, services: { users: { instances: [] } } });
  expect(app.app.get(BallastHealthIndicator).isHealthy('k')).toEqual({
    k: {
      status: 'down',
      services: { users: { status: 'down', healthy: 0, ejected: 0, total: 0, panic: false } },
    },
  });
  await expect(app.client.get('/x')).rejects.toMatchObject({ code: 'BALLAST_NO_INSTANCE' });
});

// README (BallastService): on shutdown "it stops discovery and health checks, closes the
// connection pools (after requests in flight) and the balancers: nothing is left open".
test('app.close() leaves no connection of the balanced HTTP client open to the upstreams', async () => {
  const ups = await h.upstreams(['a', 'b']);
  @Module({
    imports: [
      BallastModule.forRoot({
        logger: false,
        services: { users: { instances: instancesOf(ups), strategy: 'round-robin' } },
      }),
    ],
  })
  class AppModule {}
  const served = await h.serve(AppModule);
  const client = served.app.get<string, AxiosInstance>(getBalancedHttpToken('users'));
  await Promise.all([client.get('/1'), client.get('/2')]);

  await served.close();
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(await Promise.all(ups.map((u) => connections(u.server)))).toEqual([0, 0]);
});
