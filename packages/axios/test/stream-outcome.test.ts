import { pipeline, Writable, type Readable } from 'node:stream';
import zlib from 'node:zlib';

import type { Balancer } from '@ballast/core';
import { failOnProcessErrors, inflight, waitFor } from '@ballast/testing';
import axios from 'axios';

import { withBalancer } from '../src';
import { recordReleases, useFixtures } from './fixtures';

// README, "How outcomes are recorded": a cancellation "releases the lease as not the instance's
// fault", and a response body over `maxContentLength` "counts as a success for the instance,
// which answered". With `responseType: 'stream'` both reach the lease as the body's error.

const fixtures = useFixtures();
failOnProcessErrors();

/** One instance streaming a chunk every 5 ms, forever (gzipped for `/gzip`); `/break` dies after 30 ms. */
async function streamingInstance(): Promise<Balancer> {
  const url = await fixtures.serve((req, res) => {
    const gzip = req.url?.includes('gzip') === true;
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    });
    const out = gzip ? zlib.createGzip() : res;
    if (gzip) out.pipe(res);
    const timer = setInterval(() => {
      out.write('x'.repeat(64));
      if (gzip) (out as zlib.Gzip).flush();
    }, 5);
    res.on('close', () => clearInterval(timer));
    if (req.url?.includes('break') === true) setTimeout(() => res.socket?.destroy(), 30);
  });
  return fixtures.balancerOver([url]);
}

async function drain(body: AsyncIterable<unknown>): Promise<unknown> {
  try {
    for await (const _chunk of body);
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('responseType: stream, fetch adapter', () => {
  test('aborting the signal while the body streams is a cancellation: the lease is released, not as a failure', async () => {
    const b = await streamingInstance();
    const releases = recordReleases(b);
    const client = withBalancer(axios.create({ adapter: 'fetch' }), b);
    const abort = new AbortController();

    const res = await client.get<ReadableStream<Uint8Array>>('/x', {
      responseType: 'stream',
      signal: abort.signal,
    });
    const reader = res.data.getReader();
    await reader.read();
    expect(inflight(b)).toBe(1);
    abort.abort();
    const error = await reader.read().then(
      () => reader.read(),
      (e: unknown) => e,
    );

    expect(axios.isCancel(error)).toBe(true);
    await waitFor(() => inflight(b) === 0, { message: 'in-flight 0' });
    expect(releases.map((r) => r.outcome.ok)).toEqual([true]);
    expect(b.snapshot().instances[0]!.failures).toBe(0);
  });

  test("a body over the caller's maxContentLength is not the instance's failure", async () => {
    const b = await streamingInstance();
    const releases = recordReleases(b);
    const client = withBalancer(axios.create({ adapter: 'fetch', maxContentLength: 20 }), b);

    const res = await client.get<ReadableStream<Uint8Array>>('/x', { responseType: 'stream' });
    const error = await drain(res.data as unknown as AsyncIterable<Uint8Array>);

    expect(error).toMatchObject({
      code: 'ERR_BAD_RESPONSE',
      message: 'maxContentLength size of 20 exceeded',
    });
    await waitFor(() => inflight(b) === 0, { message: 'in-flight 0' });
    expect(releases.map((r) => r.outcome.ok)).toEqual([true]);
  });
});

describe('responseType: stream, http adapter', () => {
  test("a body over the caller's maxContentLength is not the instance's failure", async () => {
    const b = await streamingInstance();
    const releases = recordReleases(b);
    const client = withBalancer(axios.create({ maxContentLength: 20 }), b);

    const res = await client.get<Readable>('/x', { responseType: 'stream' });
    const error = await drain(res.data);

    expect(error).toMatchObject({
      code: 'ERR_BAD_RESPONSE',
      message: 'maxContentLength size of 20 exceeded',
    });
    await waitFor(() => inflight(b) === 0, { message: 'in-flight 0' });
    expect(releases.map((r) => r.outcome.ok)).toEqual([true]);
  });
});

describe('responseType: stream, http adapter, piped by the caller', () => {
  // README: the lease is released "when you destroy it (not a failure), or when it breaks (a
  // failure)". A pipeline destroys the body, with an error, when its destination fails or closes
  // early (a proxy whose own client went away): that is the caller's doing, not the instance's.
  const destinations = {
    'fails to write': () =>
      new Writable({
        write(_chunk, _encoding, done) {
          done(new Error('disk full'));
        },
      }),
    'closes early': () => {
      const destination = new Writable({
        write(_chunk, _encoding, done) {
          setTimeout(done, 1);
        },
      });
      setTimeout(() => destination.destroy(), 30);
      return destination;
    },
  };

  test.each([
    ['fails to write', '/plain'],
    ['closes early', '/plain'],
    ['fails to write', '/gzip'],
    ['closes early', '/gzip'],
  ] as const)('a destination that %s (%s) does not count against the instance', async (kind, path) => {
    const b = await streamingInstance();
    const releases = recordReleases(b);
    const client = withBalancer(axios.create(), b);

    const res = await client.get<Readable>(path, { responseType: 'stream' });
    await new Promise((r) => setTimeout(r, 15));
    const error = await new Promise((resolve) => pipeline(res.data, destinations[kind](), resolve));

    expect(error).toMatchObject({ message: expect.any(String) }); // the pipeline failed
    await waitFor(() => inflight(b) === 0, { message: 'in-flight 0' });
    expect(releases.map((r) => r.outcome.ok)).toEqual([true]);
  });

  test.each(['/break', '/gzip/break'])(
    'a body that breaks (%s) while piped is still a failure',
    async (path) => {
      const b = await streamingInstance();
      const releases = recordReleases(b);
      const client = withBalancer(axios.create(), b);

      const res = await client.get<Readable>(path, { responseType: 'stream' });
      const destination = new Writable({
        write(_chunk, _encoding, done) {
          done();
        },
      });
      const error = await new Promise((resolve) => pipeline(res.data, destination, resolve));

      expect(error).toMatchObject({ code: 'ECONNRESET' });
      await waitFor(() => inflight(b) === 0, { message: 'in-flight 0' });
      expect(releases.map((r) => r.outcome.ok)).toEqual([false]);
    },
  );
});
