import path from 'node:path';

import { request, startProcess, waitFor } from '@ballast/testing';

import { startUpstream, type DemoUpstream } from '../src';

describe('the demo upstream', () => {
  let upstream: DemoUpstream | undefined;
  afterEach(async () => upstream?.close());

  test('answers JSON naming itself, with an ORCA load header, and /healthz', async () => {
    upstream = await startUpstream({ name: 'alpha', latencyMs: 0, load: 0.25 });
    const res = await request(`${upstream.url}/users/42`);
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ upstream: 'alpha', method: 'GET', path: '/users/42' });
    expect(res.headers['endpoint-load-metrics']).toBe('TEXT cpu_utilization=0.250');
    expect((await request(`${upstream.url}/healthz`)).status).toBe(200);
    expect(upstream.served()).toBe(1);
  });

  test('fails after N requests, /healthz included, until reconfigured', async () => {
    upstream = await startUpstream({ latencyMs: 0, failAfter: 2 });
    const statuses = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await request(`${upstream.url}/`)).status);
    expect(statuses).toEqual([200, 200, 503, 503]);
    expect((await request(`${upstream.url}/healthz`)).status).toBe(503);
    upstream.configure({ failAfter: Infinity });
    expect((await request(`${upstream.url}/`)).status).toBe(200);
  });

  test('answers 503 at the configured error rate', async () => {
    let n = 0;
    upstream = await startUpstream({
      latencyMs: 0,
      errorRate: 0.5,
      random: () => (n++ % 2 === 0 ? 0.1 : 0.9),
    });
    const statuses = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await request(`${upstream.url}/`)).status);
    expect(statuses).toEqual([503, 200, 503, 200]);
  });

  test('goes down like a crashed process and comes back on the same port', async () => {
    upstream = await startUpstream({ latencyMs: 0 });
    const back = upstream.down(300);
    await waitFor(() => !upstream!.isUp());
    await expect(request(`${upstream.url}/`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await back;
    expect((await request(`${upstream.url}/`)).status).toBe(200);
  });

  test('rejects a bad behaviour naming the field', async () => {
    await expect(startUpstream({ errorRate: 2 })).rejects.toThrow(/errorRate/);
    upstream = await startUpstream();
    expect(() => upstream!.configure({ latencyMs: Number.NaN })).toThrow(/latencyMs/);
  });

  test('runs from the command line with flags and stops on SIGTERM', async () => {
    const cli = await startProcess(path.join(__dirname, '../src/main.ts'), {
      args: ['--name', 'cli', '--latency', '0'],
      ready: /listening on (\S+)/,
    });
    try {
      expect((await request(`${cli.match}/x`)).json()).toMatchObject({ upstream: 'cli', path: '/x' });
    } finally {
      expect(await cli.stop()).toBe(0);
    }
  }, 30_000);
});
