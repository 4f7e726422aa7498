import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { createBalancer, type BalancerEvents, type Outcome, type Strategy } from '@ballast/core';
import { createProxy, ProxyError, type UpstreamRequest, type UpstreamResponse } from '../src';
import { cleanup, deadUrl, gateway, inflight, listen, named, send, until } from './helpers';

afterEach(cleanup);

describe('forwarding over HTTP', () => {
  it('honours the strategy and the weights: weighted round robin gives exact shares', async () => {
    const upstreams = await Promise.all(['a', 'b', 'c'].map((name) => named(name)));
    const { url, proxy } = await gateway({
      strategy: 'weighted-round-robin',
      instances: upstreams.map((u, i) => ({ id: ['a', 'b', 'c'][i]!, url: u.url, weight: i + 1 })),
    });
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 60; i++) {
      const reply = await send(url, { path: `/n/${i}` });
      expect(reply.status).toBe(200);
      counts[reply.text]! += 1;
    }
    // NGINX smooth WRR over weights 1, 2, 3: exactly 10, 20, 30 in 60 picks.
    expect(counts).toEqual({ a: 10, b: 20, c: 30 });
    expect(upstreams[2]!.received[0]!.url).toMatch(/^\/n\/\d+$/);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('spreads concurrent traffic by weight with round robin over many requests', async () => {
    const upstreams = await Promise.all(['a', 'b', 'c'].map((name) => named(name, 2)));
    const { url } = await gateway({
      strategy: 'round-robin',
      instances: upstreams.map((u, i) => ({ id: ['a', 'b', 'c'][i]!, url: u.url })),
    });
    const replies = await Promise.all(Array.from({ length: 90 }, () => send(url)));
    const counts: Record<string, number> = {};
    for (const reply of replies) counts[reply.text] = (counts[reply.text] ?? 0) + 1;
    expect(counts).toEqual({ a: 30, b: 30, c: 30 });
  });

  it('streams a 1 MiB POST body to the upstream byte-identical, and a 1 MiB response back', async () => {
    const upstream = await listen((req, res) => {
      const hash = createHash('sha256');
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        chunks.push(chunk);
      });
      req.on('end', () => {
        res.setHeader('x-body-sha256', hash.digest('hex'));
        res.end(Buffer.concat(chunks));
      });
    });
    const { url } = await gateway({ instances: [upstream.url] });
    const body = randomBytes(1024 * 1024);
    const sha = createHash('sha256').update(body).digest('hex');
    const reply = await send(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(reply.status).toBe(200);
    expect(reply.headers['x-body-sha256']).toBe(sha);
    expect(createHash('sha256').update(reply.body).digest('hex')).toBe(sha);
  });

  it('streams a chunked request body (no Content-Length) byte-identical', async () => {
    const upstream = await listen((req, res) => {
      const hash = createHash('sha256');
      req.on('data', (chunk: Buffer) => hash.update(chunk));
      req.on('end', () => res.end(hash.digest('hex')));
    });
    const { url } = await gateway({ instances: [upstream.url] });
    const parts = [randomBytes(100_000), randomBytes(200_000), randomBytes(50)];
    const sha = createHash('sha256').update(Buffer.concat(parts)).digest('hex');
    const http = await import('node:http');
    const text = await new Promise<string>((resolve, reject) => {
      const req = http.request(`${url}/upload`, { method: 'PUT', agent: false }, (res) => {
        let data = '';
        res.on('data', (chunk: Buffer) => (data += chunk.toString()));
        res.on('end', () => resolve(data));
      });
      req.on('error', reject);
      for (const part of parts) req.write(part);
      req.end();
    });
    expect(text).toBe(sha);
  });
});

describe('affinity and pooled sockets', () => {
  it('sends one key to one instance with consistent-hash and the key option', async () => {
    const upstreams = await Promise.all(['a', 'b', 'c'].map((name) => named(name)));
    const { url } = await gateway(
      { strategy: 'consistent-hash', instances: upstreams.map((u) => u.url) },
      { key: (req) => req.headers['x-user'] as string | undefined },
    );
    const seen = new Map<string, Set<string>>();
    for (let i = 0; i < 60; i++) {
      const user = `user-${i % 6}`;
      const reply = await send(url, { headers: { 'x-user': user } });
      if (!seen.has(user)) seen.set(user, new Set());
      seen.get(user)!.add(reply.text);
    }
    for (const instances of seen.values()) expect(instances.size).toBe(1);
    expect(new Set([...seen.values()].map((s) => [...s][0])).size).toBeGreaterThan(1);
  });

  it('does not lose a POST to a keep-alive socket the upstream closed while idle', async () => {
    const upstream = await listen((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    // An upstream that drops idle connections without announcing a keep-alive timeout.
    upstream.server.keepAliveTimeout = 0;
    let connections = 0;
    const arms = new WeakMap<object, () => void>();
    upstream.server.on('connection', (socket: import('node:net').Socket) => {
      connections += 1;
      let idle: NodeJS.Timeout | undefined;
      arms.set(socket, () => {
        clearTimeout(idle);
        idle = setTimeout(() => socket.destroy(), 30);
      });
      socket.on('data', () => clearTimeout(idle));
      socket.on('close', () => clearTimeout(idle));
    });
    upstream.server.on(
      'request',
      (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
        const socket = req.socket;
        res.on('finish', () => arms.get(socket)?.());
      },
    );
    const { url } = await gateway({ instances: [upstream.url] });
    for (let i = 0; i < 5; i++) {
      expect((await send(url, { method: 'POST', body: `order ${i}` })).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 80));
    }
    expect(upstream.received.filter((r) => r.method === 'POST')).toHaveLength(5);
    expect(connections).toBe(5); // every pooled socket had died before its reuse
  });
});

describe('headers', () => {
  it('removes hop-by-hop headers both ways, sets X-Forwarded-* and keeps Host', async () => {
    const upstream = await listen((req, res) => {
      res.setHeader('connection', 'x-upstream-hop');
      res.setHeader('x-upstream-hop', 'secret');
      res.setHeader('keep-alive', 'timeout=7');
      res.setHeader('proxy-authenticate', 'Basic');
      res.setHeader('x-end-to-end', 'kept');
      res.end(JSON.stringify(req.headers));
    });
    const { url } = await gateway({ instances: [upstream.url] });
    const reply = await send(url, {
      headers: {
        host: 'public.example',
        connection: 'x-client-hop',
        'x-client-hop': '1',
        te: 'trailers',
        'proxy-authorization': 'Basic abc',
        'x-forwarded-for': '203.0.113.9',
        'x-end-to-end': 'yes',
      },
    });
    const seen = JSON.parse(reply.text) as Record<string, string>;
    expect(seen['x-client-hop']).toBeUndefined();
    expect(seen.te).toBeUndefined();
    expect(seen['proxy-authorization']).toBeUndefined();
    expect(seen.connection).not.toMatch(/x-client-hop/);
    expect(seen['x-end-to-end']).toBe('yes');
    expect(seen.host).toBe('public.example');
    expect(seen['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe('public.example');

    expect(reply.headers['x-upstream-hop']).toBeUndefined();
    expect(reply.headers['proxy-authenticate']).toBeUndefined();
    // The gateway's own server sends its Keep-Alive; the upstream's never passes.
    expect(reply.headers['keep-alive']).not.toBe('timeout=7');
    expect(reply.headers['x-end-to-end']).toBe('kept');
  });

  it("trustForwarded decides whether a client's X-Forwarded-Proto and -Host stand; a throwing one is a 502", async () => {
    const upstream = await listen((req, res) => res.end(JSON.stringify(req.headers)));
    const claims = {
      headers: { host: 'public.example', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' },
    };
    const forwarded = async (trustForwarded: unknown): Promise<Record<string, string>> => {
      const { url } = await gateway({ instances: [upstream.url] }, { trustForwarded } as never);
      const reply = await send(url, claims);
      return reply.status === 200
        ? (JSON.parse(reply.text) as Record<string, string>)
        : { status: String(reply.status) };
    };
    const pick = (seen: Record<string, string>) => [seen['x-forwarded-proto'], seen['x-forwarded-host']];
    expect(pick(await forwarded(undefined))).toEqual(['https', 'evil.example']); // default: a proxy in front set them
    expect(pick(await forwarded(false))).toEqual(['http', 'public.example']);
    const asked: string[] = [];
    const byPeer = (req: IncomingMessage) => (asked.push(req.socket.remoteAddress ?? ''), false);
    expect(pick(await forwarded(byPeer))).toEqual(['http', 'public.example']);
    expect(asked).toEqual(['127.0.0.1']);
    const broken = () => {
      throw new Error('trust lookup failed');
    };
    expect(await forwarded(broken)).toEqual({ status: '502' });
    expect(() => createProxy({ instances: [upstream.url] }, { trustForwarded: 'loopback' } as never)).toThrow(
      /proxy\.trustForwarded/,
    );
  });

  it('sends the instance host with changeOrigin, and no X-Forwarded-* when disabled', async () => {
    const upstream = await listen((req, res) => res.end(JSON.stringify(req.headers)));
    const { url } = await gateway({ instances: [upstream.url] }, { changeOrigin: true, xForwarded: false });
    const seen = JSON.parse((await send(url, { headers: { host: 'public.example' } })).text) as Record<
      string,
      string
    >;
    expect(seen.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(seen['x-forwarded-for']).toBeUndefined();
    expect(seen['x-forwarded-proto']).toBeUndefined();
  });

  it('rewrites paths (object rules, first match wins; a function) under the instance base path', async () => {
    const upstream = await listen((req, res) => res.end(req.url));
    const rules = await gateway(
      { instances: [`${upstream.url}/base/`] },
      { pathRewrite: { '^/api': '', '^/x': '/y' } },
    );
    expect((await send(rules.url, { path: '/api/users?id=1' })).text).toBe('/base/users?id=1');
    expect((await send(rules.url, { path: '/other' })).text).toBe('/base/other');
    const fn = await gateway({ instances: [upstream.url] }, { pathRewrite: (path) => path.toUpperCase() });
    expect((await send(fn.url, { path: '/abc' })).text).toBe('/ABC');
  });

  it('lets hooks edit the upstream request and response', async () => {
    const upstream = await listen((req, res) => {
      res.setHeader('x-internal', 'drop me');
      res.end(`${req.method} ${req.url} ${String(req.headers['x-added'])}`);
    });
    const { url } = await gateway(
      { instances: [upstream.url] },
      {
        onProxyRequest: (upstreamReq) => {
          upstreamReq.headers['x-added'] = 'by-hook';
          upstreamReq.path = `/hooked${upstreamReq.path}`;
        },
        onProxyResponse: (upstreamRes) => {
          delete upstreamRes.headers['x-internal'];
          upstreamRes.headers['x-proxied'] = '1';
        },
      },
    );
    const reply = await send(url, { path: '/p' });
    expect(reply.text).toBe('GET /hooked/p by-hook');
    expect(reply.headers['x-internal']).toBeUndefined();
    expect(reply.headers['x-proxied']).toBe('1');
  });

  it('answers 502 (never crashing, never leaking a stack) when a hook throws', async () => {
    const upstream = await named('a');
    const before = await gateway(
      { instances: [upstream.url] },
      {
        onProxyRequest: () => {
          throw new Error('boom');
        },
      },
    );
    const reply = await send(before.url);
    expect(reply.status).toBe(502);
    expect(reply.text).toBe('Bad Gateway\n');
    const after = await gateway(
      { instances: [upstream.url] },
      {
        onProxyResponse: () => {
          throw new Error('boom');
        },
      },
    );
    expect((await send(after.url)).status).toBe(502);
    expect(inflight(after.proxy.balancer)).toBe(0);
    // The upstream answered: a throwing hook is not held against it.
    expect(after.proxy.balancer.instances()[0]!.failures).toBe(0);
  });

  it('answers 502 for response edits Node cannot write, without holding them against the instance', async () => {
    const upstream = await named('a');
    const edits: ((res: UpstreamResponse) => void)[] = [
      (res) => void (res.headers['x-bad'] = 'a\nb'),
      (res) => void (res.headers['bad name'] = 'x'),
      (res) => void (res.headers['x-list'] = ['ok', 'b\r\nc']),
      (res) => void (res.statusCode = 42),
    ];
    for (const edit of edits) {
      const { url, proxy } = await gateway({ instances: [upstream.url] }, { onProxyResponse: edit });
      for (let i = 0; i < 3; i++) {
        const reply = await send(url);
        expect(reply.status).toBe(502);
        expect(reply.text).toBe('Bad Gateway\n');
      }
      expect(inflight(proxy.balancer)).toBe(0);
      expect(proxy.balancer.instances()[0]!.failures).toBe(0);
    }
  });

  it('adds Set-Cookie and Vary to those set before the proxy, and replaces every other header', async () => {
    const upstream = await listen((_req, res) => {
      res
        .writeHead(200, {
          vary: 'Accept-Encoding, origin',
          'set-cookie': ['session=s1', 'theme=dark'],
          'cache-control': 'no-store',
        })
        .end('ok');
    });
    const { url, server, proxy } = await gateway({ instances: [upstream.url] });
    // As a cors middleware and a visitor cookie in front of the proxy do.
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('vary', 'Origin');
      res.setHeader('set-cookie', 'visitor=v1');
      res.setHeader('cache-control', 'public');
      proxy(req, res);
    });
    const reply = await send(url);
    expect(reply.text).toBe('ok');
    expect(reply.headers.vary).toBe('Origin, Accept-Encoding');
    expect(reply.headers['set-cookie']).toEqual(['visitor=v1', 'session=s1', 'theme=dark']);
    expect(reply.headers['cache-control']).toBe('no-store');
    // `*` stands for every field.
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('vary', '*');
      proxy(req, res);
    });
    expect((await send(url)).headers.vary).toBe('*');
  });

  it('appends to an empty X-Forwarded-For as to none', async () => {
    const upstream = await listen((req, res) => res.end(req.headers['x-forwarded-for']));
    const { url } = await gateway({ instances: [upstream.url] });
    expect((await send(url, { headers: { 'x-forwarded-for': '' } })).text).toBe('127.0.0.1');
  });

  it('rewrites an absolute-form target, keeping its query and taking Host from it', async () => {
    const upstream = await listen((req, res) =>
      res.end(JSON.stringify([req.url, req.headers.host, req.headers['x-forwarded-host']])),
    );
    const { url } = await gateway({ instances: [`${upstream.url}/base/`] }, { pathRewrite: { '^/api': '' } });
    const port = Number(new URL(url).port);
    const seen = async (target: string) => {
      const answer = await rawRequest(
        port,
        `GET ${target} HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n`,
      );
      return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as string[];
    };
    expect(await seen('http://public.example:8080/api/users?id=1')).toEqual([
      '/base/users?id=1',
      'public.example:8080',
      'public.example:8080',
    ]);
    expect(await seen('http://public.example?q=1')).toEqual([
      '/base/?q=1',
      'public.example',
      'public.example',
    ]);
    expect(await seen('/api?next=http://a.example/b')).toEqual([
      '/base/?next=http://a.example/b',
      'other.example',
      'other.example',
    ]);
  });

  it('answers 502 without blaming the instance when a hook leaves a request undici refuses', async () => {
    const upstream = await named('a');
    const breakers: ((upstreamReq: UpstreamRequest) => void)[] = [
      (u) => (u.headers['x-bad'] = 'a\nb'),
      (u) => (u.headers['transfer-encoding'] = 'chunked'),
      (u) => (u.headers['content-length'] = 'ten'),
      (u) => (u.headers['x-object'] = {} as string),
      (u) => (u.method = 'GE T'),
      (u) => (u.path = '/a b'),
    ];
    for (const onProxyRequest of breakers) {
      const { url, proxy } = await gateway({ instances: [upstream.url] }, { onProxyRequest });
      const replies = await Promise.all(Array.from({ length: 5 }, () => send(url)));
      expect(replies.map((r) => r.status)).toEqual(Array(5).fill(502));
      const [instance] = proxy.balancer.instances();
      expect(instance!.failures).toBe(0);
      expect(proxy.balancer.get(instance!.id)!.state).toBe('healthy');
    }
    const rewrite = await gateway(
      { instances: [upstream.url] },
      { pathRewrite: (path) => decodeURIComponent(path) },
    );
    expect((await send(rewrite.url, { path: '/a%20b' })).status).toBe(502);
    expect(rewrite.proxy.balancer.instances()[0]!.failures).toBe(0);
    expect(upstream.received).toEqual([]);
  });

  it('relays a reason phrase in UTF-8 byte for byte (it once left the client without an answer)', async () => {
    // A raw upstream: Node's own server refuses to send such a reason phrase.
    const sockets = new Set<net.Socket>();
    const upstream = net.createServer((socket) => {
      sockets.add(socket);
      socket.once('data', () =>
        socket.end(Buffer.from('HTTP/1.1 200 Fine ✓\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok')),
      );
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = upstream.address() as AddressInfo;
      const { url, proxy } = await gateway({ instances: [`http://127.0.0.1:${port}`] });
      const http = await import('node:http');
      const reply = await new Promise<{ status: number; reason: string; text: string }>((resolve, reject) => {
        http
          .get(url, { agent: false }, (res) => {
            let text = '';
            res.on('data', (chunk: Buffer) => (text += chunk.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, reason: res.statusMessage!, text }));
          })
          .on('error', reject);
      });
      expect(reply).toEqual({
        status: 200,
        reason: Buffer.from('Fine ✓').toString('latin1'),
        text: 'ok',
      });
      expect(inflight(proxy.balancer)).toBe(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });
});

describe('errors', () => {
  it('refuses a request transfer coding other than chunked (400): its bytes would go upstream still coded', async () => {
    const upstream = await listen((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const { url, proxy } = await gateway({ instances: [upstream.url] }, { retries: 0 });
    // The bytes are what the coding says no more than the label: the proxy cannot check either.
    const answer = await rawRequest(
      Number(new URL(url).port),
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n' +
        '5\r\nhello\r\n0\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(upstream.received).toEqual([]);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('answers 502 to a response transfer coding other than chunked, held against the instance', async () => {
    // undici decodes chunked only: relayed, the gzip bytes would reach the client as the body.
    const zipped = gzipSync('hello');
    const upstream = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n');
        socket.end(zipped);
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      const { url, proxy } = await gateway(
        { instances: [`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`] },
        { retries: 0 },
      );
      const reply = await send(url);
      expect(reply.status).toBe(502);
      await until(() => inflight(proxy.balancer) === 0);
      expect(proxy.balancer.instances()[0]!.failures).toBe(1);
    } finally {
      await new Promise((resolve) => upstream.close(resolve));
    }
  });

  it('answers 503 from the moment close() is called, while requests in flight finish', async () => {
    // While close() waited for a request in flight, a new request was handed the closing pool
    // and failed on it with a 502, as if the upstream were broken.
    const a = await named('a', 300);
    const shared = createBalancer({ instances: [a.url] });
    const { url, proxy } = await gateway(shared);
    const inFlight = send(url);
    await until(() => inflight(shared) === 1, 5_000, 'the first request to reach the upstream');
    const closing = proxy.close();
    const during = await send(url);
    expect(during.status).toBe(503);
    expect(during.headers['retry-after']).toMatch(/^\d+$/);
    expect((await inFlight).status).toBe(200);
    await closing;
    expect(inflight(shared)).toBe(0);
    expect(shared.instances()[0]!.failures).toBe(0);
    shared.close();
  });

  it('gives 503 with Retry-After when no instance is eligible', async () => {
    const { url } = await gateway({ instances: [] });
    const reply = await send(url);
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('5');
    expect(reply.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(reply.text).toBe('Service Unavailable\n');
  });

  it('gives 502 when every instance refuses the connection', async () => {
    const { url, proxy } = await gateway({ instances: [await deadUrl(), await deadUrl()] });
    const reply = await send(url);
    expect(reply.status).toBe(502);
    expect(reply.text).toBe('Bad Gateway\n');
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('gives 504 when the upstream sends no headers within timeoutMs', async () => {
    const slow = await listen(() => {
      // Never answers.
    });
    const { url, proxy } = await gateway({ instances: [slow.url] }, { timeoutMs: 150, retries: 0 });
    const started = Date.now();
    const reply = await send(url);
    expect(reply.status).toBe(504);
    expect(reply.text).toBe('Gateway Timeout\n');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('closes the client connection when the upstream fails after the headers, and records the failure', async () => {
    const upstream = await listen((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setTimeout(() => res.socket!.destroy(), 20);
    });
    const balancer = createBalancer({ instances: [upstream.url] });
    const released: BalancerEvents['release'][] = [];
    balancer.on('release', (event) => released.push(event));
    // Streaming (bufferResponseBytes: 0): the head went out, so the connection is cut.
    const { url } = await gateway(balancer, { bufferResponseBytes: 0 });
    await expect(send(url)).rejects.toThrow();
    await until(() => released.length === 1);
    expect(released[0]!.outcome.ok).toBe(false);
    expect(released[0]!.outcome.status).toBe(200);
    // Held (the default for a small body): nothing went out yet, so the client gets a clean 502.
    const held = await gateway(balancer);
    expect((await send(held.url)).status).toBe(502);
    await until(() => released.length === 2);
    expect(released[1]!.outcome.ok).toBe(false);
    balancer.close();
  });

  it('closes the connection when the response body stalls past idleTimeoutMs after the headers', async () => {
    const upstream = await listen((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    });
    const { url, proxy } = await gateway(
      { instances: [upstream.url] },
      { idleTimeoutMs: 100, bufferResponseBytes: 0 },
    );
    await expect(send(url)).rejects.toThrow();
    await until(() => inflight(proxy.balancer) === 0);
    // A held response has not begun: the stall is answered 504.
    const held = await gateway({ instances: [upstream.url] }, { idleTimeoutMs: 100 });
    expect((await send(held.url)).status).toBe(504);
    await until(() => inflight(held.proxy.balancer) === 0);
  });

  it('lets onError answer instead', async () => {
    const { url } = await gateway(
      { instances: [] },
      {
        onError: (err, _req, res) => {
          res.statusCode = err.statusCode;
          res.end(`custom ${err.code}`);
        },
      },
    );
    const reply = await send(url);
    expect(reply.status).toBe(503);
    expect(reply.text).toBe('custom BALLAST_NO_INSTANCE');
  });

  it('respondError writes the short plain answer', async () => {
    const { proxy } = await gateway({ instances: [] });
    const http = await import('node:http');
    const server = http.createServer((_req, res) =>
      proxy.respondError(new ProxyError('BALLAST_UPSTREAM_TIMEOUT', 'slow'), res),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as import('node:net').AddressInfo;
    const reply = await send(`http://127.0.0.1:${port}`);
    await new Promise((resolve) => server.close(resolve));
    expect(reply.status).toBe(504);
    expect(reply.text).toBe('Gateway Timeout\n');
  });
});

describe('server-reported load', () => {
  const first: Strategy = { name: 'first', pick: (candidates) => candidates[0] };

  it('passes the ORCA endpoint-load-metrics utilization to the balancer with the outcome', async () => {
    const upstream = await listen((_req, res) => {
      res.setHeader('endpoint-load-metrics', 'TEXT cpu_utilization=0.3, mem_utilization=0.9');
      res.end('ok');
    });
    const balancer = createBalancer({ instances: [upstream.url] });
    const loads: (number | undefined)[] = [];
    balancer.on('release', (event) => loads.push(event.outcome.load));
    const { url } = await gateway(balancer);
    await send(url);
    await until(() => loads.length === 1);
    expect(loads).toEqual([0.3]);
    balancer.close();
  });
  it('a 503 retried on another instance still reports its load: an overloaded server saying so', async () => {
    const overloaded = await listen((_req, res) => {
      res.statusCode = 503;
      res.setHeader('endpoint-load-metrics', 'TEXT cpu_utilization=1');
      res.end('busy');
    });
    const fine = await listen((_req, res) => {
      res.setHeader('endpoint-load-metrics', 'TEXT cpu_utilization=0.2');
      res.end('ok');
    });
    const balancer = createBalancer({
      strategy: first,
      instances: [
        { id: 'overloaded', url: overloaded.url },
        { id: 'fine', url: fine.url },
      ],
    });
    const releases: { id: string; outcome: Outcome }[] = [];
    balancer.on('release', (event) => releases.push({ id: event.instance.id, outcome: event.outcome }));
    const { url } = await gateway(balancer, { retries: 1 });
    const reply = await send(url);
    expect(reply.text).toBe('ok');
    await until(() => releases.length === 2);
    const busy = releases.find((r) => r.id === 'overloaded')!;
    expect(busy.outcome.status).toBe(503);
    expect(busy.outcome.load).toBe(1);
    balancer.close();
  });

  it("a WebSocket upstream's 101 carrying the header reports its load when the tunnel's lease is released", async () => {
    const upstream = await listen((_req, res) => res.end());
    upstream.server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      const key = String(req.headers['sec-websocket-key']);
      const acceptKey = createHash('sha1')
        .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      socket.on('error', () => {});
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Accept: ${acceptKey}\r\nendpoint-load-metrics: TEXT cpu_utilization=0.7\r\n\r\n`,
      );
      // Closes the tunnel at once, so the lease is released.
      setTimeout(() => socket.destroy(), 20);
    });
    const balancer = createBalancer({ instances: [upstream.url] });
    const outcomes: Outcome[] = [];
    balancer.on('release', (event) => outcomes.push(event.outcome));
    const { url } = await gateway(balancer);
    await new Promise<void>((resolve, reject) => {
      const req = http.request(`${url}/ws`, {
        agent: false,
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'sec-websocket-version': '13',
        },
      });
      req.on('upgrade', (_res, socket) => {
        socket.on('error', () => {});
        socket.on('close', () => resolve());
      });
      req.on('response', () => reject(new Error('no 101')));
      req.on('error', reject);
      req.end();
    });
    await until(() => outcomes.length === 1);
    expect(outcomes[0]!.status).toBe(101);
    expect(outcomes[0]!.load).toBe(0.7);
    balancer.close();
  });
});

/** One request written as raw bytes (a target node:http would not send); the answer, up to the close it asks for. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}
