import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import type { Strategy } from '@ballast/core';
import {
  blackholeUrl,
  cleanup,
  deadUrl,
  gateway,
  inflight,
  listen,
  named,
  send,
  type TestServer,
} from './helpers';

afterEach(cleanup);

/** Always the first eligible instance, in configured order: makes "first try, then retry" exact. */
const first: Strategy = { name: 'first', pick: (candidates) => candidates[0] };

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/** Reads the whole request, then drops the connection: the upstream has received it. */
function resetter(): Promise<TestServer> {
  return listen((req) => {
    void readBody(req).then(() => req.socket.destroy());
  });
}

/** Answers the sha256 of the body it received. */
function hasher(): Promise<TestServer> {
  return listen((req, res) => {
    void readBody(req).then((body) => res.end(createHash('sha256').update(body).digest('hex')));
  });
}

const sha = (body: Buffer) => createHash('sha256').update(body).digest('hex');
const steady = { outlier: false, threshold: 0, slowStart: false } as const;

describe('retries', () => {
  it('loses none of 500 concurrent GETs when an upstream is killed mid-flight; in-flight returns to 0', async () => {
    const upstreams = await Promise.all(['a', 'b', 'c'].map((name) => named(name, 40)));
    const victim = upstreams[1]!;
    const reasons: string[] = [];
    const logger = {
      debug: (obj: object, msg?: string) => {
        if (msg === 'ballast: retrying on another instance') reasons.push((obj as { reason: string }).reason);
      },
    };
    const { url, proxy } = await gateway(
      { strategy: 'round-robin', instances: upstreams.map((u) => u.url) },
      { logger: logger as never },
    );
    let killed: Promise<void> | undefined;
    const watcher = setInterval(() => {
      if (killed === undefined && victim.received.length >= 40) killed = victim.kill();
    }, 1);
    const replies = await Promise.all(Array.from({ length: 500 }, (_, i) => send(url, { path: `/r/${i}` })));
    clearInterval(watcher);
    await killed;
    expect(killed).toBeDefined();
    expect(replies.filter((reply) => reply.status !== 200)).toEqual([]);
    // The victim answered nothing after it died, and some requests were retried elsewhere.
    const served = replies.filter((reply) => reply.text === 'b').length;
    expect(served).toBeLessThan(victim.received.length);
    // Requests the victim had received were reset and retried (within the budget)...
    expect(reasons.filter((r) => /other side closed|ECONNRESET|socket/i.test(r)).length).toBeGreaterThan(0);
    expect(reasons.length).toBeGreaterThanOrEqual(victim.received.length - served);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('never sends a POST twice once the upstream may have received it', async () => {
    const a = await resetter();
    const b = await hasher();
    const { url, proxy } = await gateway({ strategy: first, instances: [a.url, b.url] });
    const reply = await send(url, { method: 'POST', path: '/orders', body: 'pay 10' });
    expect(reply.status).toBe(502);
    expect(a.received).toHaveLength(1);
    expect(b.received).toHaveLength(0);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('retries an idempotent request after a reset, replaying its body from the buffer', async () => {
    const a = await resetter();
    const b = await hasher();
    const { url } = await gateway({ strategy: first, instances: [a.url, b.url] });
    const get = await send(url, { path: '/x' });
    expect(get.status).toBe(200);
    const body = randomBytes(30_000);
    const put = await send(url, { method: 'PUT', body });
    expect(put.status).toBe(200);
    expect(put.text).toBe(sha(body));
    expect(a.received.map((r) => r.method)).toEqual(['GET', 'PUT']);
  });

  it('replays a body that reached the gateway in several chunks, byte-identical', async () => {
    const a = await resetter();
    const b = await hasher();
    const { url } = await gateway({ strategy: first, instances: [a.url, b.url] });
    const body = randomBytes(60_000);
    // Written in six parts with a pause between them, so the gateway reads several chunks.
    const reply = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        `${url}/parts`,
        { method: 'PUT', headers: { 'content-length': body.length }, agent: false },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve(`${res.statusCode} ${text}`));
        },
      );
      req.on('error', reject);
      const write = (part: number): void => {
        if (part === 6) return void req.end();
        req.write(body.subarray(part * 10_000, (part + 1) * 10_000));
        setTimeout(() => write(part + 1), 5);
      };
      write(0);
    });
    expect(reply).toBe(`200 ${sha(body)}`);
    expect(a.received.map((r) => r.method)).toEqual(['PUT']);
  });

  it('does not replay a started body larger than the replay buffer', async () => {
    const a = await resetter();
    const b = await hasher();
    const { url } = await gateway(
      { strategy: first, instances: [a.url, b.url] },
      { replayBufferBytes: 1024 },
    );
    const reply = await send(url, { method: 'PUT', body: randomBytes(10_000) });
    expect(reply.status).toBe(502);
    expect(b.received).toHaveLength(0);
  });

  it('always retries a failure before any byte was written, whatever the method', async () => {
    const b = await hasher();
    const { url, proxy } = await gateway({ strategy: first, instances: [await deadUrl(), b.url] });
    const body = randomBytes(200_000);
    const reply = await send(url, { method: 'POST', body });
    expect(reply.status).toBe(200);
    expect(reply.text).toBe(sha(body));
    expect(inflight(proxy.balancer)).toBe(0);
    // The refused instance's lease recorded a failure.
    expect(proxy.balancer.instances()[0]!.failures).toBe(1);
  });

  it('gives up on a connection that does not open within connectTimeoutMs: retried elsewhere, whatever the method, else 504', async () => {
    const hole = await blackholeUrl();
    const b = await hasher();
    const { url, proxy } = await gateway(
      { strategy: first, instances: [hole, b.url] },
      { connectTimeoutMs: 300 },
    );
    const body = randomBytes(1_000);
    const started = Date.now();
    const reply = await send(url, { method: 'POST', body });
    expect(reply.status).toBe(200); // never sent, so a POST is retried too
    expect(reply.text).toBe(sha(body));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(proxy.balancer.instances()[0]!.failures).toBe(1);

    const alone = await gateway({ instances: [hole] }, { connectTimeoutMs: 300 });
    const timedOut = Date.now();
    expect((await send(alone.url)).status).toBe(504);
    expect(Date.now() - timedOut).toBeLessThan(2_000);
    expect(inflight(alone.proxy.balancer)).toBe(0);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('retries a 502/503/504 answer for GET, passes it through for POST', async () => {
    const a = await listen((req, res) => {
      void readBody(req).then(() => {
        res.statusCode = 503;
        res.end('a is overloaded');
      });
    });
    const b = await named('b');
    const { url } = await gateway({ strategy: first, instances: [a.url, b.url] });
    expect((await send(url)).text).toBe('b');
    const post = await send(url, { method: 'POST', body: 'x' });
    expect(post.status).toBe(503);
    expect(post.text).toBe('a is overloaded');
    expect(b.received.map((r) => r.method)).toEqual(['GET']);
  });

  it('retries a timed-out GET on another instance, answers 504 for a POST', async () => {
    const a = await listen(() => {
      // Never answers.
    });
    const b = await named('b');
    const { url } = await gateway({ strategy: first, instances: [a.url, b.url] }, { timeoutMs: 100 });
    expect((await send(url)).text).toBe('b');
    expect((await send(url, { method: 'POST', body: 'x' })).status).toBe(504);
  });

  it('honours retryMethods and retries: 0', async () => {
    const a = await resetter();
    const b = await named('b');
    const noGet = await gateway({ strategy: first, instances: [a.url, b.url] }, { retryMethods: ['PUT'] });
    expect((await send(noGet.url)).status).toBe(502);
    const none = await gateway({ strategy: first, instances: [await deadUrl(), b.url] }, { retries: 0 });
    expect((await send(none.url)).status).toBe(502);
    const post = await gateway({ strategy: first, instances: [a.url, b.url] }, { retryMethods: ['post'] });
    expect((await send(post.url, { method: 'POST', body: 'x' })).text).toBe('b');
  });

  it('stops retrying when the retry budget is spent, but still retries requests never sent', async () => {
    const a = await resetter();
    const b = await named('b');
    const { url } = await gateway(
      { strategy: first, instances: [a.url, b.url] },
      { retryBudget: { ratio: 0, minRetriesPerSecond: 0.1 } },
    );
    // A reserve of 0.1/s over 10 s: exactly one retry.
    expect((await send(url)).text).toBe('b');
    expect((await send(url)).status).toBe(502);
    const dead = await gateway(
      { strategy: first, instances: [await deadUrl(), b.url] },
      { retryBudget: { ratio: 0, minRetriesPerSecond: 0 } },
    );
    expect((await send(dead.url)).text).toBe('b');
  });
  it('charges the retry budget only for retries that happen', async () => {
    // With no other instance to retry on, the failed request was charged all the same: the
    // one retry the budget allows was gone before a second instance could take it.
    const a = await resetter();
    const b = await named('b');
    const { url, proxy } = await gateway(
      { strategy: first, instances: [a.url], health: { slowStart: false } },
      { retryBudget: { ratio: 0, minRetriesPerSecond: 0.1 } },
    );
    expect((await send(url)).status).toBe(502);
    proxy.balancer.add(b.url);
    expect((await send(url)).text).toBe('b');
  });

  describe('an upstream that resets in the middle of a response body', () => {
    /** Announces 1 000 bytes, sends 400 of them, then drops the connection. */
    const halfBody = () =>
      listen((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-length': '1000', 'x-upstream': 'a' });
        res.write('a'.repeat(400), () => setImmediate(() => res.socket?.destroy()));
      });

    /** The client's view: the status and body, or the error that ended the response. */
    const attempt = (url: string, method: string) =>
      send(url, { method, body: method === 'GET' ? undefined : 'x' }).then(
        (reply) => `${reply.status} ${reply.text}`,
        (error: Error) => `error ${error.message}`,
      );

    it('is retried elsewhere for an idempotent request: its partial response never reaches the client', async () => {
      const a = await halfBody();
      const b = await named('b');
      const { url, proxy } = await gateway({ strategy: first, instances: [a.url, b.url] });
      expect(await attempt(url, 'GET')).toBe('200 b');
      expect(await attempt(url, 'PUT')).toBe('200 b');
      expect(a.received.map((r) => r.method)).toEqual(['GET', 'PUT']);
      expect(inflight(proxy.balancer)).toBe(0);
    });

    it('answers a POST 502 (it is never sent twice), not with a truncated body', async () => {
      const a = await halfBody();
      const b = await named('b');
      const { url, proxy } = await gateway({ strategy: first, instances: [a.url, b.url] });
      expect(await attempt(url, 'POST')).toBe('502 Bad Gateway\n');
      expect(b.received).toHaveLength(0);
      expect(inflight(proxy.balancer)).toBe(0);
    });

    it('streams as before with bufferResponseBytes: 0, or for a body above it', async () => {
      const a = await halfBody();
      const b = await named('b');
      const off = await gateway({ strategy: first, instances: [a.url, b.url] }, { bufferResponseBytes: 0 });
      expect(await attempt(off.url, 'GET')).toMatch(/^error /);
      const small = await gateway(
        { strategy: first, instances: [a.url, b.url] },
        { bufferResponseBytes: 999 },
      );
      expect(await attempt(small.url, 'GET')).toMatch(/^error /);
      expect(b.received).toHaveLength(0);
    });
  });
});

describe('retries: more of the contract', () => {
  it('retries: 2 tries three instances, each once', async () => {
    const a = await resetter();
    const b = await resetter();
    const c = await named('c');
    const { url, proxy } = await gateway(
      { strategy: first, instances: [a.url, b.url, c.url] },
      { retries: 2 },
    );
    expect((await send(url)).text).toBe('c');
    expect([a, b, c].map((s) => s.received.length)).toEqual([1, 1, 1]);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('the budget stops the second retry of retries: 2: 502, the third instance untouched, leases released', async () => {
    const a = await resetter();
    const b = await resetter();
    const c = await named('c');
    const { url, proxy } = await gateway(
      { strategy: first, instances: [a.url, b.url, c.url], health: steady },
      { retries: 2, retryBudget: { ratio: 0, minRetriesPerSecond: 0.1 } }, // one retry in 10 s
    );
    expect((await send(url)).status).toBe(502);
    expect(c.received).toHaveLength(0);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('a retry denied by the budget: an upstream 503 goes through, a timeout is 504', async () => {
    const a = await listen((req, res) => {
      req.resume();
      if (req.url === '/busy') res.writeHead(503).end('busy');
      // '/slow' never answers
    });
    const b = await named('b');
    const { url, proxy } = await gateway(
      { strategy: first, instances: [a.url, b.url], health: steady },
      { timeoutMs: 150, retryBudget: { ratio: 0, minRetriesPerSecond: 0 } },
    );
    const busy = await send(url, { path: '/busy' });
    expect(`${busy.status} ${busy.text}`).toBe('503 busy');
    expect((await send(url, { path: '/slow' })).status).toBe(504);
    expect(b.received).toHaveLength(0);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('replays a body of exactly replayBufferBytes (64 KiB), not one byte more', async () => {
    const a = await resetter();
    const b = await hasher();
    const { url, proxy } = await gateway({ strategy: first, instances: [a.url, b.url], health: steady });
    const exact = randomBytes(65_536);
    const r1 = await send(url, { method: 'PUT', body: exact });
    expect(`${r1.status} ${r1.text}`).toBe(`200 ${sha(exact)}`);
    const over = randomBytes(65_537);
    expect((await send(url, { method: 'PUT', body: over })).status).toBe(502);
    expect(b.received).toHaveLength(1);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('replays a body sent with Expect: 100-continue', async () => {
    const a = await resetter();
    const b = await hasher();
    const { url } = await gateway({ strategy: first, instances: [a.url, b.url] });
    const body = randomBytes(10_000);
    const reply = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        `${url}/p`,
        { method: 'PUT', agent: false, headers: { expect: '100-continue', 'content-length': body.length } },
        (res) => {
          let t = '';
          res.on('data', (c: Buffer) => (t += c.toString()));
          res.on('end', () => resolve(`${res.statusCode} ${t}`));
        },
      );
      req.on('error', reject);
      req.on('continue', () => req.end(body));
    });
    expect(reply).toBe(`200 ${sha(body)}`);
  });

  it('retries a GET whose 503 body is still streaming', async () => {
    const a = await listen((req, res) => {
      res.writeHead(503);
      const timer = setInterval(() => res.write('x'.repeat(1_000)), 5);
      res.on('close', () => clearInterval(timer));
    });
    const b = await named('b');
    const { url, proxy } = await gateway({ strategy: first, instances: [a.url, b.url] });
    const reply = await send(url);
    expect(`${reply.status} ${reply.text}`).toBe('200 b');
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('retries HEAD and OPTIONS after a 503', async () => {
    const a = await listen((req, res) =>
      res.writeHead(503, { 'content-length': '4' }).end(req.method === 'HEAD' ? undefined : 'busy'),
    );
    const b = await listen((req, res) =>
      res
        .writeHead(200, { 'content-length': '1', 'x-upstream': 'b' })
        .end(req.method === 'HEAD' ? undefined : 'b'),
    );
    const { url, proxy } = await gateway({ strategy: first, instances: [a.url, b.url], health: steady });
    const head = await send(url, { method: 'HEAD' });
    expect([head.status, head.headers['x-upstream']]).toEqual([200, 'b']);
    expect((await send(url, { method: 'OPTIONS' })).text).toBe('b');
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('ignores the late response of a timed-out attempt; leases back to 0', async () => {
    const a = await listen((req, res) => void setTimeout(() => res.end('late'), 300));
    const b = await named('b');
    const { url, proxy } = await gateway({ strategy: first, instances: [a.url, b.url] }, { timeoutMs: 100 });
    expect((await send(url)).text).toBe('b');
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('a POST still waiting for a socket when timeoutMs runs out is retried, and never reaches the first instance', async () => {
    const a = await listen((req, res) => {
      req.resume();
      res.writeHead(200);
      res.write('s');
      setTimeout(() => res.end(), 700); // holds a's only socket
    });
    const b = await hasher();
    const { url, proxy } = await gateway(
      { strategy: first, instances: [a.url, b.url], health: steady },
      { connections: 1, timeoutMs: 300 },
    );
    const holding = send(url, { path: '/hold' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const post = await send(url, { method: 'POST', body: 'pay' });
    expect(post.text).toBe(sha(Buffer.from('pay')));
    await holding;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(a.received.map((r) => r.method)).toEqual(['GET']);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('a held response that stalls mid-body: GET retried, POST 504', async () => {
    const a = await listen((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': '100' });
      res.write('a'.repeat(10));
    });
    const b = await named('b');
    const { url, proxy } = await gateway(
      { strategy: first, instances: [a.url, b.url], health: steady },
      { idleTimeoutMs: 200 },
    );
    expect((await send(url)).text).toBe('b');
    expect((await send(url, { method: 'POST', body: 'x' })).status).toBe(504);
    expect(inflight(proxy.balancer)).toBe(0);
  });
});

// A 502/503/504 retried elsewhere has its body drained, to keep the connection. The drain was
// bounded in bytes only: an upstream trickling its error body kept the connection, and
// proxy.close(), busy until 64 KiB arrived, however long that took.
it('a retried 503 whose body trickles is given up: the upstream connection closes and close() resolves', async () => {
  let open = 0;
  const a = await listen((req, res) => {
    req.resume();
    open += 1;
    res.writeHead(503, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('x'), 50); // 20 B/s: 64 KiB takes ~55 min
    res.on('close', () => {
      clearInterval(timer);
      open -= 1;
    });
  });
  const b = await named('b');
  const { url, proxy, server } = await gateway(
    { strategy: first, instances: [a.url, b.url] },
    { idleTimeoutMs: 1_000 },
  );
  try {
    const reply = await send(url);
    expect(`${reply.status} ${reply.text}`).toBe('200 b'); // retried: fine
    expect(inflight(proxy.balancer)).toBe(0); // the 503's lease was released: fine
    // Well past idleTimeoutMs and timeoutMs: the dropped 503 should be long abandoned.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const stillOpen = open;
    server.closeAllConnections();
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      proxy.close().then(() => 'closed'),
      new Promise((resolve) => (timer = setTimeout(resolve, 2_000, 'close() still pending after 2 s'))),
    ]);
    clearTimeout(timer);
    expect({ stillOpen, closed }).toEqual({ stillOpen: 0, closed: 'closed' });
  } finally {
    await a.kill(); // lets the pending close() finish, so cleanup does not hang
  }
}, 15_000);

// The retry of a replayed upload goes to an instance that never accepts the connection, so
// timeoutMs runs out before a byte was written: held against that instance and retried. The
// replayed bytes made the new attempt's stream read ahead, resuming the client's: the proxy took
// it for a slow client and answered 408, releasing the dead instance's lease as a success.
it('a replayed upload whose retry cannot connect within timeoutMs is retried again, not answered 408', async () => {
  // a: reads the first chunk of the body, then resets (an idempotent PUT: retried, replayed).
  const a = await listen((req) => void req.once('data', () => req.socket.destroy()));
  const hole = await blackholeUrl(); // connections never open
  const c = await listen((req, res) => void readBody(req).then((body) => res.end(sha(body))));
  const { url, proxy } = await gateway(
    {
      strategy: first,
      instances: [a.url, hole, c.url],
      health: steady,
    },
    { retries: 2, timeoutMs: 400, connectTimeoutMs: 1_000 },
  );
  const body = randomBytes(2_000);
  // A chunked upload still in progress: the client sends the rest 600 ms later.
  const reply = await new Promise<string>((resolve) => {
    const req = http.request(`${url}/upload`, { method: 'PUT', agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${text}`));
    });
    req.on('error', (error) => resolve(`error ${error.message}`));
    req.write(body.subarray(0, 1_000));
    setTimeout(() => req.end(body.subarray(1_000)), 600);
  });
  const failures = proxy.balancer.instances().map((i) => i.failures);
  expect({ reply, failures }).toEqual({ reply: `200 ${sha(body)}`, failures: [1, 1, 0] });
  expect(inflight(proxy.balancer)).toBe(0);
}, 10_000);
