import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBalancer } from '@ballast/core';
import { createProxy, ProxyError } from '../src';
import { cleanup, deadUrl, gateway, inflight, listen, named, send, until } from './helpers';

afterEach(cleanup);

describe('client abort', () => {
  it('aborts the upstream request and frees the lease when the client goes away', async () => {
    let upstreamClosed = false;
    let arrived = false;
    const upstream = await listen((_req, res) => {
      arrived = true;
      res.on('close', () => (upstreamClosed = true));
    });
    const { url, proxy } = await gateway({ instances: [upstream.url] });
    const req = http.request(`${url}/slow`, { agent: false });
    req.on('error', () => {});
    req.end();
    await until(() => arrived, 5_000, 'the upstream to get the request');
    expect(inflight(proxy.balancer)).toBe(1);
    req.destroy();
    await until(() => upstreamClosed, 5_000, 'the upstream request to be aborted');
    await until(() => inflight(proxy.balancer) === 0, 5_000, 'the lease to be released');
    // A client that left says nothing about the instance.
    expect(proxy.balancer.instances()[0]!.failures).toBe(0);
  });

  it('aborts a streaming response when the client leaves mid-body', async () => {
    let upstreamClosed = false;
    const upstream = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('tick\n'), 5);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosed = true;
      });
    });
    const { url, proxy } = await gateway({ instances: [upstream.url] });
    await new Promise<void>((resolve) => {
      const req = http.get(`${url}/stream`, { agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
    });
    await until(() => upstreamClosed, 5_000, 'the upstream response to be aborted');
    await until(() => inflight(proxy.balancer) === 0);
  });

  it('aborts the upstream when the client drops mid-upload', async () => {
    let upstreamAborted = false;
    let arrived = false;
    const upstream = await listen((req) => {
      arrived = true;
      req.on('data', () => {});
      req.on('close', () => (upstreamAborted = true));
    });
    const { url, proxy } = await gateway({ instances: [upstream.url] });
    const req = http.request(`${url}/upload`, {
      method: 'POST',
      agent: false,
      headers: { 'content-length': '100000' },
    });
    req.on('error', () => {});
    req.write(Buffer.alloc(1000));
    await until(() => arrived);
    req.destroy();
    await until(() => upstreamAborted, 5_000, 'the upstream request to be aborted');
    await until(() => inflight(proxy.balancer) === 0);
  });

  it('reads a small body whole first: a client that drops mid-upload never reaches an upstream', async () => {
    let arrived = 0;
    const upstream = await listen((req, res) => {
      arrived += 1;
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const { url, proxy } = await gateway({ instances: [upstream.url] });
    const picks: string[] = [];
    proxy.balancer.on('pick', ({ lease }) => picks.push(lease.instance.id));
    const req = http.request(`${url}/upload`, {
      method: 'POST',
      agent: false,
      headers: { 'content-length': '10000' },
    });
    const closed = new Promise<void>((resolve) => req.on('close', () => resolve()));
    req.on('error', () => {});
    req.write(Buffer.alloc(1000));
    await new Promise((resolve) => setTimeout(resolve, 100));
    req.destroy();
    await closed;
    // The whole body never came: no pick, no lease, nothing sent upstream.
    const res = await send(url, { method: 'POST', path: '/after', body: 'x'.repeat(5000) });
    expect(res.status).toBe(200);
    expect(arrived).toBe(1);
    expect(picks).toHaveLength(1);
    expect(inflight(proxy.balancer)).toBe(0);
  });
});

type Mode = 'pipe' | 'override' | 'destroy';

/**
 * An upstream that echoes the body (or, on /long, writes one chunk and hangs) and a gateway that
 * calls forward() itself, as the Koa adapter would.
 */
async function forwardSetup(mode: Mode) {
  const state = { upstreamClosed: 0 };
  const upstream = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      res.setHeader('connection', 'x-hop');
      res.setHeader('x-hop', '1');
      res.setHeader('x-length', String(req.headers['content-length']));
      if (req.url === '/long') {
        res.write('first');
        res.on('close', () => (state.upstreamClosed += 1));
        return;
      }
      res.end(Buffer.concat(chunks).toString() || 'empty');
    });
  });
  const proxy = createProxy({ instances: [upstream.url] });
  const { port, stop } = await rawServer(async (req, res) => {
    try {
      if (mode === 'override') {
        for await (const _chunk of req) {
          // A body parser consumed the body.
        }
        const { statusCode, headers, body } = await proxy.forward(req, { body: '{"parsed":true}' });
        res.writeHead(statusCode, headers);
        body.pipe(res);
        return;
      }
      const { statusCode, headers, body } = await proxy.forward(req);
      if (mode === 'destroy') {
        body.once('data', () => {
          body.destroy();
          res.end('cut');
        });
        return;
      }
      res.writeHead(statusCode, headers);
      body.pipe(res);
    } catch (error) {
      if (error instanceof ProxyError) proxy.respondError(error, res);
      else res.destroy();
    }
  });
  return {
    proxy,
    state,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await stop();
      await proxy.close();
    },
  };
}

describe('forward()', () => {
  it('resolves with the filtered head and a body stream, and releases the lease at its end', async () => {
    const { proxy, url, close } = await forwardSetup('pipe');
    const reply = await send(url, { method: 'POST', body: 'hello' });
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('hello');
    expect(reply.headers['x-hop']).toBeUndefined();
    await until(() => inflight(proxy.balancer) === 0);
    await close();
  });

  it('sends a replacement body with its own Content-Length', async () => {
    const { url, close } = await forwardSetup('override');
    const reply = await send(url, { method: 'POST', body: 'a=1&b=2&c=3&d=4&e=5' });
    expect(reply.text).toBe('{"parsed":true}');
    expect(reply.headers['x-length']).toBe('15');
    await close();
  });

  it('aborts the upstream when the body stream is destroyed', async () => {
    const { proxy, url, state, close } = await forwardSetup('destroy');
    expect((await send(url, { path: '/long' })).text).toBe('cut');
    await until(() => state.upstreamClosed > 0, 5_000, 'the upstream to be aborted');
    await until(() => inflight(proxy.balancer) === 0);
    await close();
  });
});

describe('forward() errors and signals', () => {
  it('rejects with ProxyError: 503 with no instance, 502 when refused', async () => {
    const empty = createProxy({ instances: [] });
    await expect(empty.forward(new http.IncomingMessage(null as never))).rejects.toMatchObject({
      statusCode: 503,
      code: 'BALLAST_NO_INSTANCE',
      retryAfterSeconds: 5,
    });
    await empty.close();
    const dead = createProxy({ instances: [await deadUrl()] });
    const { port, stop } = await rawServer(async (req, res) => {
      await dead.forward(req).catch((error: ProxyError) => res.end(`${error.statusCode} ${error.code}`));
    });
    expect((await send(`http://127.0.0.1:${port}`)).text).toBe('502 BALLAST_UPSTREAM_ERROR');
    await stop();
    await dead.close();
  });

  it('aborts through the signal before the headers, and rejects', async () => {
    let upstreamClosed = false;
    let arrived = false;
    const upstream = await listen((_req, res) => {
      arrived = true;
      res.on('close', () => (upstreamClosed = true));
    });
    const balancer = createBalancer({ instances: [upstream.url] });
    const proxy = createProxy(balancer);
    const controller = new AbortController();
    let rejection: unknown;
    const { port, stop } = await rawServer(async (req, res) => {
      await proxy.forward(req, { signal: controller.signal }).catch((error: unknown) => (rejection = error));
      res.end('done');
    });
    const reply = send(`http://127.0.0.1:${port}`);
    await until(() => arrived);
    controller.abort();
    expect((await reply).text).toBe('done');
    expect(rejection).toBeInstanceOf(ProxyError);
    await until(() => upstreamClosed);
    expect(inflight(balancer)).toBe(0);
    await stop();
    await proxy.close();
    // The balancer was given, not created: close() leaves it open.
    expect(() => balancer.pick()).not.toThrow();
    balancer.close();
  });

  it('closes a balancer it created', async () => {
    const upstream = await named('a');
    const proxy = createProxy({ instances: [upstream.url] });
    await proxy.close();
    expect(() => proxy.balancer.pick()).toThrow(expect.objectContaining({ code: 'BALLAST_CLOSED' }));
  });
});

async function rawServer(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Promise<{ port: number; stop: () => Promise<void> }> {
  const server = http.createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

it('gateway helper: proxies through createProxy', async () => {
  const upstream = await named('solo');
  const { url } = await gateway({ instances: [upstream.url] });
  expect((await send(url)).text).toBe('solo');
});

describe('forward() with bufferBytes', () => {
  async function setup() {
    const upstream = await listen((req, res) => {
      if (req.url === '/small') res.writeHead(200, { 'content-length': '5' }).end('small');
      else if (req.url === '/large') res.writeHead(200, { 'content-length': '2048' }).end('x'.repeat(2048));
      else if (req.url === '/chunked') {
        res.write('no '); // written before end(): chunked, no Content-Length
        res.end('length');
      } else {
        // Announces 100 bytes, sends 10, and dies.
        res.writeHead(200, { 'content-length': '100' });
        res.write('0123456789');
        setTimeout(() => res.destroy(), 10);
      }
    });
    const proxy = createProxy({ instances: [upstream.url] }, { retries: 0 });
    const server = http.createServer((req, res) => {
      proxy.forward(req, { response: res, bufferBytes: 1024 }).then(
        (upstreamResponse) => {
          const kind = Buffer.isBuffer(upstreamResponse.body) ? 'buffer' : 'stream';
          res.writeHead(upstreamResponse.statusCode, { 'x-body': kind });
          if (Buffer.isBuffer(upstreamResponse.body)) res.end(upstreamResponse.body);
          else upstreamResponse.body.pipe(res);
        },
        (error: ProxyError) => proxy.respondError(error, res),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const close = async () => {
      await new Promise((resolve) => server.close(resolve));
      await proxy.close();
    };
    return { proxy, url, close };
  }

  it('hands over a small body of known length whole, and streams the rest', async () => {
    const { proxy, url, close } = await setup();
    const small = await send(url, { path: '/small' });
    expect([small.status, small.headers['x-body'], small.text]).toEqual([200, 'buffer', 'small']);
    const large = await send(url, { path: '/large' });
    expect([large.headers['x-body'], large.text.length]).toEqual(['stream', 2048]);
    const chunked = await send(url, { path: '/chunked' });
    expect([chunked.headers['x-body'], chunked.text]).toEqual(['stream', 'no length']);
    await until(() => inflight(proxy.balancer) === 0);
    await close();
  });

  it('turns a failure before the buffered body is complete into a 502', async () => {
    const { proxy, url, close } = await setup();
    const reply = await send(url, { path: '/broken' });
    expect(reply.status).toBe(502);
    await until(() => inflight(proxy.balancer) === 0);
    expect(proxy.balancer.instances()[0]!.failures).toBe(1);
    await close();
  });
});
