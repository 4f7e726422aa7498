import type { Readable } from 'node:stream';

import { withBalancer, type Balancer } from '@ballast/axios';
import { createBalancer } from '@ballast/core';
import { inflight, readAll, waitFor, type Upstream } from '@ballast/testing';
import axios, { type AxiosError, type AxiosResponse } from 'axios';
import axiosRetry, { isNetworkOrIdempotentRequestError } from 'axios-retry';
import fc from 'fast-check';

import { recordReleases, refusedUrl, useFixtures } from './fixtures';

const fx = useFixtures();
const balancers = fx.balancers;
let upstreams: Upstream[] = [];

const noInflight = (balancer: Balancer) =>
  waitFor(() => inflight(balancer) === 0, { message: 'in-flight 0' });

/** One scripted upstream behind a round-robin balancer and a client balanced over it. */
async function oneInstance() {
  upstreams = await fx.start(1);
  const balancer = fx.balancerOver([upstreams[0]!.url]);
  return { balancer, releases: recordReleases(balancer), client: withBalancer(axios.create(), balancer) };
}

describe('axios-retry', () => {
  // Consistent hashing on one key sends every pick to the same instance, unless a retry excludes
  // the instances already tried: what lands elsewhere here does so because of the exclusion.
  const sameKey = { strategy: 'consistent-hash' } as const;

  test.each(['axios-retry installed after withBalancer', 'axios-retry installed before withBalancer'])(
    'each axios-retry retry passes through the balancer and lands on another instance (%s)',
    async (order) => {
      upstreams = await fx.start(3);
      const balancer = fx.balancerOver(
        upstreams.map((u) => u.url),
        sameKey,
      );
      const lease = balancer.pick({ key: 'k' });
      lease.release({ ok: true });
      const first = upstreams.find((u) => new URL(u.url).origin === lease.instance.id)!;
      for (const u of upstreams) u.behaviour = (_req, res) => void res.writeHead(503).end();

      const client = axios.create();
      const retry = () =>
        axiosRetry(client, {
          retries: 2,
          retryDelay: () => 0,
          retryCondition: isNetworkOrIdempotentRequestError,
        });
      if (order.endsWith('before withBalancer')) retry();
      withBalancer(client, balancer, { retries: 0, key: () => 'k' });
      if (order.endsWith('after withBalancer')) retry();

      const error = await client.get('/').catch((e: AxiosError) => e);
      expect((error as AxiosError).response?.status).toBe(503);
      expect(upstreams.map((u) => u.count())).toEqual([1, 1, 1]);
      expect((error as AxiosError).config?.['axios-retry']).toMatchObject({ retryCount: 2 });

      // With only the hashed instance failing, axios-retry's first retry is answered elsewhere.
      for (const u of upstreams) if (u !== first) u.behaviour = undefined;
      const res = await client.get('/');
      expect(res.status).toBe(200);
      expect(first.count()).toBe(2);
      expect(upstreams.reduce((sum, u) => sum + u.count(), 0)).toBe(3 + 2);
      expect(inflight(balancer)).toBe(0);
    },
  );

  test('Ballast retries and axios-retry retries add up; with every instance tried, axios-retry starts over', async () => {
    upstreams = await fx.start(2);
    for (const u of upstreams) u.behaviour = (_req, res) => void res.writeHead(500).end();
    const balancer = fx.balancerOver(upstreams.map((u) => u.url));
    const client = withBalancer(axios.create(), balancer, { retries: 1 });
    axiosRetry(client, { retries: 2, retryDelay: () => 0 });

    await expect(client.get('/')).rejects.toMatchObject({ response: { status: 500 } });
    // The first sending tries a, then b; each later one starts over on any instance (all were
    // tried) and has no untried instance left to retry on: 2 + 1 + 1 attempts.
    expect(upstreams[0]!.count() + upstreams[1]!.count()).toBe(4);
    expect(inflight(balancer)).toBe(0);
  });
});

describe('cancellation', () => {
  test('aborting an in-flight request releases its lease, is not retried and not held against the instance', async () => {
    upstreams = await fx.start(2);
    const balancer = fx.balancerOver(upstreams.map((u) => u.url));
    const releases = recordReleases(balancer);
    const client = withBalancer(axios.create(), balancer);
    const abort = new AbortController();

    const pending = client.get('/hang', { signal: abort.signal });
    await waitFor(() => upstreams[0]!.count() === 1, { message: 'the request to arrive' });
    expect(inflight(balancer)).toBe(1);
    abort.abort();

    const error: unknown = await pending.catch((e: unknown) => e);
    expect(axios.isCancel(error)).toBe(true);
    expect(inflight(balancer)).toBe(0);
    expect(releases).toEqual([expect.objectContaining({ outcome: expect.objectContaining({ ok: true }) })]);
    expect(balancer.snapshot().instances[0]!.failures).toBe(0);
    expect(upstreams[1]!.count()).toBe(0);
    await waitFor(() => upstreams[0]!.received[0]!.aborted, { message: 'the upstream to see the abort' });
  });

  test('a request cancelled before it is sent takes no lease', async () => {
    upstreams = await fx.start(1);
    const balancer = fx.balancerOver([upstreams[0]!.url]);
    const picks: unknown[] = [];
    balancer.on('pick', (event) => picks.push(event));
    const client = withBalancer(axios.create(), balancer);

    await expect(client.get('/', { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'ERR_CANCELED',
    });
    expect(picks).toHaveLength(0);
    expect(upstreams[0]!.count()).toBe(0);
  });
});

describe('responseType: stream', () => {
  const stream = (res: AxiosResponse) => res.data as Readable;

  test('the lease is held while the body streams and released when it ends', async () => {
    const { balancer, releases, client } = await oneInstance();

    const res = await client.get('/stream/5', { responseType: 'stream' });
    expect(inflight(balancer)).toBe(1);
    expect((await readAll(stream(res))).toString()).toBe('chunk\n'.repeat(5));
    await noInflight(balancer);
    expect(releases).toEqual([
      expect.objectContaining({ outcome: expect.objectContaining({ ok: true, status: 200 }) }),
    ]);
  });

  test('a body the caller destroys early releases the lease, not as a failure', async () => {
    const { balancer, releases, client } = await oneInstance();

    const res = await client.get('/stream/100', { responseType: 'stream' });
    expect(inflight(balancer)).toBe(1);
    stream(res).destroy();
    await noInflight(balancer);
    expect(releases[0]!.outcome.ok).toBe(true);
  });

  test('a body that breaks mid-stream releases the lease as a failure', async () => {
    const { balancer, releases, client } = await oneInstance();

    const res = await client.get('/break', { responseType: 'stream' });
    await expect(readAll(stream(res))).rejects.toThrow();
    await noInflight(balancer);
    expect(releases).toEqual([
      expect.objectContaining({ outcome: expect.objectContaining({ ok: false, status: 200 }) }),
    ]);
  });

  test('aborting the signal while the body streams releases the lease', async () => {
    const { balancer, client } = await oneInstance();
    const abort = new AbortController();

    const res = await client.get('/stream/100', { responseType: 'stream', signal: abort.signal });
    stream(res)
      .on('error', () => undefined)
      .resume();
    abort.abort();
    await noInflight(balancer);
  });

  test('a 5xx answered as a stream is released at once and its body dropped on a retry', async () => {
    upstreams = await fx.start(2);
    upstreams[0]!.behaviour = (_req, res) => void res.writeHead(503).end('down');
    const balancer = fx.balancerOver(upstreams.map((u) => u.url));
    const client = withBalancer(axios.create(), balancer);

    const res = await client.get('/stream/2', { responseType: 'stream' });
    expect((await readAll(stream(res))).toString()).toBe('chunk\nchunk\n');
    await noInflight(balancer);
  });
});

describe('no lease is ever leaked', () => {
  type Kind =
    'ok' | '404' | '500' | 'timeout' | 'abort' | 'stream' | 'stream-destroyed' | 'break' | 'post-500';

  test('after any mix of successes, failures, timeouts and cancellations, in-flight counts return to 0', async () => {
    upstreams = await fx.start(3);
    const dead = await refusedUrl();
    const balancer = createBalancer({ instances: [...upstreams.map((u) => u.url), dead] });
    balancers.push(balancer);
    const client = withBalancer(axios.create({ timeout: 100 }), balancer, { retries: 1 });
    let settled = 0;

    async function send(kind: Kind): Promise<void> {
      const abort = new AbortController();
      const request = {
        ok: () => client.get('/'),
        '404': () => client.get('/status/404'),
        '500': () => client.get('/status/500'),
        'post-500': () => client.post('/status/500', { x: 1 }),
        timeout: () => client.get('/hang'),
        abort: () => {
          setTimeout(() => abort.abort(), 10);
          return client.get('/hang', { signal: abort.signal });
        },
        stream: () => client.get('/stream/3', { responseType: 'stream' }),
        'stream-destroyed': () => client.get('/stream/50', { responseType: 'stream' }),
        break: () => client.get('/break', { responseType: 'stream' }),
      }[kind];
      try {
        const res = await request();
        if (kind === 'stream-destroyed') (res.data as Readable).destroy();
        else if (kind === 'stream' || kind === 'break')
          await readAll(res.data as Readable).catch(() => undefined);
      } catch {
        // Failures are part of the mix; only the leases matter here.
      }
      settled += 1;
    }

    const kinds: Kind[] = [
      'ok',
      '404',
      '500',
      'timeout',
      'abort',
      'stream',
      'stream-destroyed',
      'break',
      'post-500',
    ];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...kinds), { minLength: 1, maxLength: 12 }), async (mix) => {
        settled = 0;
        await Promise.all(mix.map(send));
        expect(settled).toBe(mix.length);
        await noInflight(balancer);
        return balancer.snapshot().instances.every((i) => i.inflight === 0);
      }),
      { numRuns: 25, seed: 5 },
    );
    const served = balancer.snapshot().instances.reduce((sum, i) => sum + i.requests, 0);
    expect(served).toBeGreaterThan(25);
  }, 30_000);
});
