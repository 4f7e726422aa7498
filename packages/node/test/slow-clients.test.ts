/**
 * Clients that are slow on purpose or by accident: one that trickles its upload, one that stops
 * reading the response. Neither may be held against a healthy instance, nor hold a lease and an
 * upstream connection for as long as it keeps its socket open.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import { createProxy } from '../src';
import { cleanup, gateway, inflight, listen, send, until } from './helpers';

afterEach(cleanup);

/**
 * A POST whose body trickles one byte every `everyMs`, chunked or of announced length (read
 * whole before the first attempt); resolves with the raw answer.
 */
function trickle(
  url: string,
  bytes: number,
  everyMs: number,
  framing: 'chunked' | 'length' = 'chunked',
): Promise<string> {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  const answer: Buffer[] = [];
  let sent = 0;
  const chunked = framing === 'chunked';
  socket.write(
    `POST /upload HTTP/1.1\r\nHost: a\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${bytes}`}\r\n\r\n`,
  );
  const timer = setInterval(() => {
    if (socket.destroyed) return;
    if (sent++ < bytes) socket.write(chunked ? '1\r\nx\r\n' : 'x');
    else if (chunked) socket.end('0\r\n\r\n');
  }, everyMs);
  socket.on('data', (chunk: Buffer) => answer.push(chunk));
  socket.on('error', () => {});
  return new Promise((resolve) => {
    socket.on('close', () => {
      clearInterval(timer);
      resolve(Buffer.concat(answer).toString('latin1'));
    });
    setTimeout(() => socket.destroy(), 5_000).unref();
  });
}

/** A client that sends a GET and never reads a byte of the answer. */
function stalledReader(url: string, path: string): net.Socket {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  socket.on('error', () => {});
  socket.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
  socket.pause();
  return socket;
}

/** An upstream answering `/big` with 25 MiB, as fast as the client reads, and anything else at once. */
function bigAnswers(req: IncomingMessage, res: ServerResponse): void {
  if (req.url !== '/big') {
    res.end('small');
    return;
  }
  const chunk = Buffer.alloc(64 * 1024, 97);
  let n = 0;
  const pump = (): void => {
    while (n++ < 400) if (!res.write(chunk)) return void res.once('drain', pump);
    res.end();
  };
  pump();
}

describe('a client that uploads slowly', () => {
  it('gets 408 when timeoutMs runs out on its upload, and the instances are not blamed', async () => {
    const reads = (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    };
    const a = await listen(reads);
    const b = await listen(reads);
    const { proxy, url } = await gateway(
      { strategy: 'round-robin', instances: [a.url, b.url] },
      { timeoutMs: 300, healthCheck: false },
    );
    // Ten in a row: five consecutive failures would have ejected each instance.
    const answers: string[] = [];
    for (let i = 0; i < 10; i++) answers.push(await trickle(url, 20, 50));
    await until(() => inflight(proxy.balancer) === 0, 2_000, 'the leases to be released');

    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    // Not retried: another instance would wait on the same client.
    expect(a.received.length + b.received.length).toBe(10);
    expect(proxy.balancer.snapshot().instances.map((i) => [i.state, i.failures])).toEqual([
      ['healthy', 0],
      ['healthy', 0],
    ]);
  }, 30_000);

  it('gets 408 too when the bytes it announced trickle in before the first attempt', async () => {
    const upstream = await listen((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const { proxy, url } = await gateway(
      { instances: [upstream.url] },
      { timeoutMs: 300, healthCheck: false },
    );
    const answer = await trickle(url, 100, 50, 'length');
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(upstream.received).toEqual([]);
    expect(inflight(proxy.balancer)).toBe(0);
  }, 15_000);

  it('an upstream that stops reading a large upload is still the one timed out: 504, held against it', async () => {
    // It never reads the body and never answers: the proxy's side of the upload is full.
    const stuck = await listen(() => {});
    const { proxy, url } = await gateway({ instances: [stuck.url] }, { timeoutMs: 300, healthCheck: false });
    const reply = await send(url, {
      method: 'POST',
      path: '/upload',
      body: Buffer.alloc(8 * 1024 * 1024, 1),
    });
    expect(reply.status).toBe(504);
    await until(() => inflight(proxy.balancer) === 0, 2_000, 'the lease to be released');
    expect(proxy.balancer.snapshot().instances[0]!.failures).toBe(1);
  }, 30_000);
});

describe('a client that stops reading the response', () => {
  it('is closed after idleTimeoutMs: its lease and upstream connection go back, no instance blamed', async () => {
    const upstream = await listen(bigAnswers);
    const { proxy, url } = await gateway(
      { instances: [upstream.url] },
      { healthCheck: false, connections: 2, idleTimeoutMs: 300, timeoutMs: 500, retries: 0 },
    );
    const stalled = [stalledReader(url, '/big'), stalledReader(url, '/big')];
    await until(() => inflight(proxy.balancer) === 2, 2_000, 'both responses to start');

    // The proxy gives up on them after idleTimeoutMs, well before the end of their 25 MiB.
    await until(() => inflight(proxy.balancer) === 0, 3_000, 'the leases to be released');
    const received = await Promise.all(
      stalled.map(
        (socket) =>
          new Promise<number>((resolve) => {
            let bytes = 0;
            socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
            socket.once('close', () => resolve(bytes));
            socket.resume();
          }),
      ),
    );
    for (const bytes of received) expect(bytes).toBeLessThan(400 * 64 * 1024);
    // Both pooled connections are free again for a client that reads.
    expect((await send(url, { path: '/small' })).text).toBe('small');
    expect(proxy.balancer.snapshot().instances[0]!.failures).toBe(0);
  }, 15_000);

  it('forward(): a body stream nobody reads is destroyed after idleTimeoutMs, and the lease released', async () => {
    const upstream = await listen(bigAnswers);
    const proxy = createProxy({ instances: [upstream.url] }, { healthCheck: false, idleTimeoutMs: 300 });
    const errors: Error[] = [];
    const server = http.createServer((req, res) => {
      void proxy.forward(req).then(({ body }) => {
        // As a caller that stopped reading: the first chunks fill the stream, and no more is read.
        body.on('error', (error) => errors.push(error));
        body.pause();
        res.end('started');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address() as net.AddressInfo;
      expect((await send(`http://127.0.0.1:${address.port}`, { path: '/big' })).text).toBe('started');
      await until(() => errors.length === 1, 3_000, 'the body to be destroyed');
      expect(errors[0]!.message).toMatch(/not read for 300 ms/);
      await until(() => inflight(proxy.balancer) === 0, 2_000, 'the lease to be released');
      expect(proxy.balancer.snapshot().instances[0]!.failures).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await proxy.close();
    }
  }, 15_000);
});
