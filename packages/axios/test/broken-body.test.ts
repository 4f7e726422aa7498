import http from 'node:http';

import type { Balancer } from '@ballast/core';
import { failOnProcessErrors, inflight } from '@ballast/testing';
import axios, { type AxiosError } from 'axios';

import { withBalancer } from '../src';
import { recordReleases, useFixtures } from './fixtures';

// A response whose body breaks after the headers (the instance dies, or resets the connection,
// mid-body): README "`ok` is false for ... a network error", and "a reset connection ... is
// retried for idempotent methods". The http adapter attaches the 200 response to that error, which
// must not pass for a 2xx-4xx answer the caller's validateStatus refused.

const fixtures = useFixtures();
failOnProcessErrors();

const serve = fixtures.serve;
const rr = (instances: string[]): Balancer => fixtures.balancerOver(instances);
/** Headers promising 100 bytes, 5 of them, then the connection dies. */
const cutBody: http.RequestListener = (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
  res.write('{"a":', () => setTimeout(() => res.socket?.destroy(), 5));
};
const whole: http.RequestListener = (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
};

describe('a response body cut after the headers', () => {
  test.each(['json', 'arraybuffer', 'text'] as const)(
    'http adapter, responseType %s: a failure of the instance, and a GET is retried on another one',
    async (responseType) => {
      const broken = await serve(cutBody);
      const healthy = await serve(whole);
      const b = rr([broken, healthy]);
      const releases = recordReleases(b);
      const client = withBalancer(axios.create(), b, { retries: 1 });

      const res = await client.get('/x', { responseType });

      expect(res.status).toBe(200);
      expect(releases.map((r) => [r.instance.id, r.outcome.ok])).toEqual([
        [broken, false],
        [healthy, true],
      ]);
      expect(inflight(b)).toBe(0);
    },
  );

  test('http adapter, POST: not retried (the instance may have acted), but still a failure; the caller gets an AxiosError', async () => {
    const broken = await serve(cutBody);
    const healthy = await serve(whole);
    const b = rr([broken, healthy]);
    const releases = recordReleases(b);
    const client = withBalancer(axios.create(), b, { retries: 1 });

    const error = await client.post('/x', { a: 1 }).catch((e: unknown) => e as AxiosError);

    expect(axios.isAxiosError(error)).toBe(true);
    expect(releases.map((r) => [r.instance.id, r.outcome.ok])).toEqual([[broken, false]]);
    expect(b.snapshot().instances[1]!.requests).toBe(0);
    expect(inflight(b)).toBe(0);
  });

  test('fetch adapter: a GET whose body is reset (undici UND_ERR_SOCKET) is retried on another instance', async () => {
    const broken = await serve(cutBody);
    const healthy = await serve(whole);
    const b = rr([broken, healthy]);
    const releases = recordReleases(b);
    const client = withBalancer(axios.create({ adapter: 'fetch' }), b, { retries: 1 });

    const res = await client.get('/x');

    expect(res.data).toEqual({ ok: true });
    expect(releases.map((r) => [r.instance.id, r.outcome.ok])).toEqual([
      [broken, false],
      [healthy, true],
    ]);
    expect(inflight(b)).toBe(0);
  });

  test("a status the caller's validateStatus refuses is still the caller's answer: a 200 refused is not retried nor a failure", async () => {
    const first = await serve(whole);
    const second = await serve(whole);
    const b = rr([first, second]);
    const releases = recordReleases(b);
    const client = withBalancer(axios.create(), b, { retries: 1 });

    const error = await client
      .get('/x', { validateStatus: (s) => s === 201 })
      .catch((e: unknown) => e as AxiosError);

    expect((error as AxiosError).response?.status).toBe(200);
    expect(releases.map((r) => [r.instance.id, r.outcome.ok])).toEqual([[first, true]]);
  });
});
