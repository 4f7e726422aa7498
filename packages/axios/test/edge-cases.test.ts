import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Balancer } from '@ballast/core';
import { failOnProcessErrors } from '@ballast/testing';
import axios from 'axios';

import { balancerOf, detachBalancer, withBalancer } from '../src';
import { useFixtures } from './fixtures';

// Edge cases of failover and streaming: retries, redirects, cancellation, streamed bodies of
// both adapters, and the caller's own size limits.

type Handler = http.RequestListener;
const fixtures = useFixtures();
failOnProcessErrors();

const serve = fixtures.serve;
async function refused(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  await new Promise((r) => s.close(r));
  return url;
}
const inflight = (b: Balancer) => b.snapshot().instances.reduce((n, i) => n + i.inflight, 0);
const rr = (instances: string[]): Balancer => fixtures.balancerOver(instances, { health: {} });
const echo: Handler = (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        url: req.url,
        method: req.method,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      }),
    ),
  );
};

const stats = (b: Balancer) =>
  b.snapshot().instances.map((i) => ({
    requests: i.requests,
    failures: i.failures,
    inflight: i.inflight,
    state: i.state,
  }));
const echoBody: http.RequestListener = (req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => res.end(`got:${body}`));
};
const webStream = () =>
  new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode('hello'));
      c.close();
    },
  });

test('localhost instance refused: POST retried', async () => {
  const port = new URL(await refused()).port;
  const ok = await serve(echo);
  const b = rr([`http://localhost:${port}`, ok]);
  const client = withBalancer(axios.create(), b, { retries: 1 });
  const res = await client.post('/x', { a: 1 });
  expect(res.status).toBe(200);
  expect(inflight(b)).toBe(0);
});

test('response interceptors run once per call across retries', async () => {
  const bad = await serve((_q, s) => s.writeHead(503).end());
  const ok = await serve(echo);
  const b = rr([bad, ok]);
  const client = withBalancer(axios.create(), b);
  let req = 0;
  let resp = 0;
  client.interceptors.request.use((c) => (req++, c));
  client.interceptors.response.use((r) => (resp++, r));
  await client.get('/x');
  expect([req, resp]).toEqual([1, 1]);
  expect(inflight(b)).toBe(0);
});

test('custom headers and body reach the retried instance', async () => {
  const dead = await refused();
  const ok = await serve(echo);
  const b = rr([dead, ok]);
  const client = withBalancer(axios.create({ headers: { 'x-default': 'd' } }), b);
  const res = await client.post(
    '/x?y=1',
    { a: 1 },
    { headers: { 'x-custom': 'c', authorization: 'Bearer t' }, params: { z: 2 } },
  );
  expect(res.data.headers['x-custom']).toBe('c');
  expect(res.data.headers['x-default']).toBe('d');
  expect(res.data.headers.authorization).toBe('Bearer t');
  expect(res.data.body).toBe('{"a":1}');
  expect(res.data.url).toBe('/x?y=1&z=2');
});

test('5xx body retried; headers on second attempt of GET to 5xx', async () => {
  let n = 0;
  const seen: http.IncomingHttpHeaders[] = [];
  const h: Handler = (req, res) => {
    seen.push(req.headers);
    req.resume();
    req.on('end', () => (n++ === 0 ? res.writeHead(503).end() : res.end('ok')));
  };
  const a = await serve(h);
  const c = await serve(h);
  const b = rr([a, c]);
  const client = withBalancer(axios.create(), b);
  const res = await client.put('/x', 'text-body', {
    headers: { 'x-custom': 'c', 'content-type': 'text/plain' },
  });
  expect(res.data).toBe('ok');
  expect(seen[1]!['x-custom']).toBe('c');
  expect(seen[1]!['content-length']).toBe('9');
  expect(inflight(b)).toBe(0);
});

test('errors after retries exhausted are AxiosErrors with code, response, config', async () => {
  const a = await serve((_q, s) => s.writeHead(502).end('bad'));
  const c = await serve((_q, s) => s.writeHead(503).end('bad'));
  const b = rr([a, c]);
  const client = withBalancer(axios.create(), b);
  const err = await client.get('/x').catch((e) => e);
  expect(axios.isAxiosError(err)).toBe(true);
  expect(err.code).toBe('ERR_BAD_RESPONSE');
  expect(err.response.status).toBe(503);
  expect(err.config.url).toBe('/x');
  expect(inflight(b)).toBe(0);
});

test('redirects followed; maxRedirects 0 gives 302 error; in-flight 0', async () => {
  const target = await serve(echo);
  const a = await serve((req, res) => {
    if (req.url === '/r') res.writeHead(302, { location: '/final' }).end();
    else if (req.url === '/abs') res.writeHead(302, { location: `${target}/elsewhere` }).end();
    else echo(req, res);
  });
  const b = rr([a]);
  const client = withBalancer(axios.create(), b);
  const r1 = await client.get('/r');
  expect(r1.data.url).toBe('/final');
  const r2 = await client.get('/abs');
  expect(r2.data.url).toBe('/elsewhere');
  const e = await client.get('/r', { maxRedirects: 0 }).catch((x) => x);
  expect(e.response.status).toBe(302);
  expect(inflight(b)).toBe(0);
  expect(b.snapshot().instances[0]!.failures).toBe(0);
});

test('stream with validateStatus () => true and 503 read to end', async () => {
  const a = await serve((_q, s) => {
    s.writeHead(503);
    s.write('x');
    setTimeout(() => s.end('y'), 20);
  });
  const b = rr([a]);
  const client = withBalancer(axios.create(), b);
  const res = await client.get('/x', { responseType: 'stream', validateStatus: () => true });
  expect(inflight(b)).toBe(1);
  for await (const _ of res.data);
  await new Promise((r) => setTimeout(r, 20));
  expect(inflight(b)).toBe(0);
});

test('stream of an empty 204 response, read', async () => {
  const a = await serve((_q, s) => s.writeHead(204).end());
  const b = rr([a]);
  const client = withBalancer(axios.create(), b);
  const res = await client.get('/x', { responseType: 'stream' });
  for await (const _ of res.data);
  await new Promise((r) => setTimeout(r, 20));
  expect(inflight(b)).toBe(0);
});

test('HEAD with stream', async () => {
  const a = await serve((_q, s) => s.writeHead(200, { 'content-length': '10' }).end());
  const b = rr([a]);
  const client = withBalancer(axios.create(), b);
  const res = await client.head('/x', { responseType: 'stream' });
  res.data.resume();
  await new Promise((r) => setTimeout(r, 50));
  expect(inflight(b)).toBe(0);
});

test('gzip stream destroyed early', async () => {
  const zlib = await import('node:zlib');
  const a = await serve((_q, s) => {
    s.writeHead(200, { 'content-encoding': 'gzip' });
    const gz = zlib.createGzip();
    gz.pipe(s);
    let i = 0;
    const t = setInterval(() => {
      gz.write('chunk '.repeat(100));
      gz.flush();
      if (++i > 100) {
        clearInterval(t);
        gz.end();
      }
    }, 5);
    s.on('close', () => clearInterval(t));
  });
  const b = rr([a]);
  const client = withBalancer(axios.create(), b);
  const res = await client.get('/x', { responseType: 'stream' });
  await new Promise((r) => res.data.once('data', r));
  res.data.destroy();
  await new Promise((r) => setTimeout(r, 50));
  expect(inflight(b)).toBe(0);
  expect(b.snapshot().instances[0]!.failures).toBe(0);
});

test('CancelToken in flight', async () => {
  const a = await serve(() => undefined);
  const c = await serve(() => undefined);
  const b = rr([a, c]);
  const client = withBalancer(axios.create(), b);
  const src = axios.CancelToken.source();
  const p = client.get('/x', { cancelToken: src.token }).catch((e) => e);
  await new Promise((r) => setTimeout(r, 50));
  src.cancel('bye');
  const e = await p;
  expect(axios.isCancel(e)).toBe(true);
  expect(inflight(b)).toBe(0);
  expect(b.snapshot().instances.map((i) => i.requests)).toEqual([1, 0]);
});

test('timeouts on both instances: ECONNABORTED after 2 attempts', async () => {
  const a = await serve(() => undefined);
  const c = await serve(() => undefined);
  const b = rr([a, c]);
  const client = withBalancer(axios.create({ timeout: 100 }), b);
  const e = await client.get('/x').catch((x) => x);
  expect(e.code).toBe('ECONNABORTED');
  expect(axios.isAxiosError(e)).toBe(true);
  expect(inflight(b)).toBe(0);
});

test('concurrent mixed', async () => {
  const a = await serve((req, res) => {
    const m = /\/(\d+)/.exec(req.url ?? '');
    const n = Number(m?.[1] ?? 0) % 5;
    if (n === 0) res.end('ok');
    else if (n === 1) res.writeHead(500).end();
    else if (n === 2) res.writeHead(404).end();
    else if (n === 3) setTimeout(() => res.end('slow'), 200);
    else req.socket.destroy();
  });
  const c = await serve((req, res) => res.end('ok2'));
  const b = rr([a, c]);
  const client = withBalancer(axios.create({ timeout: 100 }), b);
  const ctrl = new AbortController();
  const ps = Array.from({ length: 60 }, (_, i) =>
    client[i % 2 ? 'get' : 'post'](`/${i}`, undefined, i % 7 === 0 ? { signal: ctrl.signal } : {}).catch(
      (e) => e,
    ),
  );
  setTimeout(() => ctrl.abort(), 30);
  await Promise.all(ps);
  expect(inflight(b)).toBe(0);
});

test('detach while stream in flight', async () => {
  const a = await serve((_q, s) => {
    s.write('x');
    setTimeout(() => s.end('y'), 50);
  });
  const client = withBalancer(axios.create(), { service: 's', instances: [a] });
  const b = balancerOf(client)!;
  const res = await client.get('/x', { responseType: 'stream' });
  detachBalancer(client);
  for await (const _ of res.data);
  expect(inflight(b)).toBe(0);
});

describe('request bodies', () => {
  test('fetch adapter: a web ReadableStream body is not retried (it cannot be sent twice); the caller gets the refusal', async () => {
    const dead = await refused();
    const live = await serve(echoBody);
    const b = rr([dead, live]);
    const client = withBalancer(axios.create({ adapter: 'fetch' }), b, { retries: 1 });

    const error = await client.post('/x', webStream(), { headers: { 'content-type': 'text/plain' } }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string; cause?: { code?: string } },
    );

    // README: "Never [retried]: ... a request whose body is a stream (it cannot be sent twice)...
    // The caller then gets the last attempt's error" -- the refusal, as plain axios reports it.
    expect(error?.code).toBe('ERR_NETWORK');
    expect(error?.cause?.code).toBe('ECONNREFUSED');
    // The live instance never saw a byte: it must not be charged with a failure.
    expect(stats(b)[1]).toMatchObject({ failures: 0, inflight: 0 });
  });

  test("a body over the caller's maxBodyLength never leaves the client, and is not counted against the instance", async () => {
    let hits = 0;
    const live = await serve((req, res) => {
      hits++;
      echoBody(req, res);
    });
    const b = rr([live]);
    const client = withBalancer(axios.create({ maxBodyLength: 10 }), b, { retries: 0 });

    for (let i = 0; i < 8; i++) {
      const error: unknown = await client.post('/x', 'x'.repeat(100)).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe('ERR_BAD_REQUEST'); // axios's own limit, checked before sending
    }
    expect(hits).toBe(0);
    // Like a body over maxContentLength (README), the caller's own limit is not the instance's fault.
    expect(stats(b)).toEqual([{ requests: 8, failures: 0, inflight: 0, state: 'healthy' }]);
  });
});

describe('responseType stream with the fetch adapter', () => {
  test('the lease is held while the body streams, and a body that breaks is a failure', async () => {
    const live = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write('partial');
      setTimeout(() => req.socket.destroy(), 100);
    });
    const b = rr([live]);
    const client = withBalancer(axios.create({ adapter: 'fetch' }), b);

    const res = await client.get<ReadableStream<Uint8Array>>('/x', { responseType: 'stream' });
    // README: "the lease is held while the body streams and released when it ends ... or when it
    // breaks (a failure)".
    const whileStreaming = stats(b)[0]!.inflight;
    let broke = false;
    try {
      for await (const _chunk of res.data as unknown as AsyncIterable<Uint8Array>);
    } catch {
      broke = true;
    }
    expect(broke).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect({ whileStreaming, after: stats(b)[0] }).toEqual({
      whileStreaming: 1,
      after: { requests: 1, failures: 1, inflight: 0, state: 'healthy' },
    });
  });
});
