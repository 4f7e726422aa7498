import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Strategy } from '@ballast/core';
import type { ProxyHandler } from '../src';
import { cleanup, deadUrl, gateway, inflight, listen, until, type TestServer } from './helpers';

afterEach(cleanup);

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const accept = (key: string) =>
  createHash('sha1')
    .update(key + GUID)
    .digest('base64');

/** A server frame: FIN + text opcode, unmasked, short payload. */
function serverFrame(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
}

/** A client frame: FIN + text opcode, masked (RFC 6455 §5.3), short payload. */
function clientFrame(payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

function unmask(frame: Buffer): Buffer {
  const length = frame[1]! & 0x7f;
  const mask = frame.subarray(2, 6);
  return Buffer.from(frame.subarray(6, 6 + length).map((byte, i) => byte ^ mask[i % 4]!));
}

/** A tiny WebSocket echo server on node:http: handshake, then each text frame sent back. */
async function wsEcho(): Promise<TestServer & { sockets: Duplex[] }> {
  const upstream = await listen((_req, res) => {
    res.statusCode = 426;
    res.end('upgrade required');
  });
  const sockets: Duplex[] = [];
  upstream.server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    if (req.url === '/hang') {
      // Takes the upgrade and never answers it; closes when the proxy does.
      sockets.push(socket);
      socket.on('error', () => {});
      socket.on('end', () => socket.destroy());
      socket.resume();
      return;
    }
    if (req.url === '/refuse') {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno');
      return;
    }
    sockets.push(socket);
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept(String(req.headers['sec-websocket-key']))}\r\n\r\n`,
    );
    socket.on('data', (data: Buffer) => {
      const text = unmask(data).toString();
      // "push N": N frames of the server's own, 10 ms apart, as a server pushing events.
      const push = /^push (\d+)$/.exec(text);
      if (push === null) socket.write(serverFrame(Buffer.from(text)));
      else
        for (let i = 0; i < Number(push[1]); i++)
          setTimeout(() => socket.write(serverFrame(Buffer.from(`event ${i}`))), 10 * (i + 1));
    });
    socket.on('error', () => {});
    // As a real WebSocket server: the peer's FIN closes the connection.
    socket.on('end', () => socket.end());
  });
  return Object.assign(upstream, { sockets });
}

interface Opened {
  res: IncomingMessage;
  socket: Duplex | undefined;
  body: string;
}

/** Opens a WebSocket handshake through `url`; resolves with the 101 and its socket, or the refusal. */
function open(url: string, path = '/chat'): Promise<Opened & { key: string }> {
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, {
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': key,
        'sec-websocket-version': '13',
      },
    });
    req.on('upgrade', (res, socket) => resolve({ res, socket, body: '', key }));
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ res, socket: undefined, body, key }));
    });
    req.on('error', reject);
    req.end();
  });
}

function echo(socket: Duplex, text: string): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (frame: Buffer) => resolve(frame.subarray(2, 2 + frame[1]!).toString()));
    socket.write(clientFrame(Buffer.from(text)));
  });
}

const first: Strategy = { name: 'first', pick: (candidates) => candidates[0] };

describe('upgrades', () => {
  it('carries a WebSocket echo through the proxy, holding the lease while the socket is open', async () => {
    const upstream = await wsEcho();
    const { url, proxy } = await gateway({ instances: [upstream.url] });
    const { res, socket, key } = await open(url);
    expect(res.statusCode).toBe(101);
    expect(res.headers['sec-websocket-accept']).toBe(accept(key));
    expect(await echo(socket!, 'hello')).toBe('hello');
    expect(await echo(socket!, 'through ballast')).toBe('through ballast');
    expect(inflight(proxy.balancer)).toBe(1);
    socket!.destroy();
    await until(() => inflight(proxy.balancer) === 0, 5_000, 'the tunnel lease to be released');
    await until(() => upstream.sockets[0]!.destroyed, 5_000, 'the upstream socket to close');
  });

  it('relays frames the upstream pushes on its own, over a pooled connection', async () => {
    const upstream = await wsEcho();
    const { url } = await gateway({ instances: [upstream.url] });
    // A plain request first, so the tunnel may reuse a kept-alive connection of the pool.
    await new Promise<void>((resolve) => http.get(url, (res) => res.resume().on('end', resolve)));
    const { socket } = await open(url);
    const frames: string[] = [];
    socket!.on('data', (data: Buffer) => {
      for (let at = 0; at < data.length; at += 2 + data[at + 1]!)
        frames.push(data.subarray(at + 2, at + 2 + data[at + 1]!).toString());
    });
    socket!.write(clientFrame(Buffer.from('push 5')));
    await until(() => frames.length === 5, 3_000, 'five pushed frames');
    expect(frames).toEqual(['event 0', 'event 1', 'event 2', 'event 3', 'event 4']);
    socket!.destroy();
  });

  it('retries a refused connection on another instance, and relays an upstream refusal', async () => {
    const upstream = await wsEcho();
    const { url, proxy } = await gateway({ strategy: first, instances: [await deadUrl(), upstream.url] });
    const opened = await open(url);
    expect(opened.res.statusCode).toBe(101);
    expect(await echo(opened.socket!, 'again')).toBe('again');
    opened.socket!.destroy();
    const refused = await open(url, '/refuse');
    expect(refused.res.statusCode).toBe(403);
    expect(refused.body).toBe('no');
    await until(() => inflight(proxy.balancer) === 0);
  });

  it('answers a plain 503 on the socket when no instance is eligible, and 502 when all refuse', async () => {
    const empty = await gateway({ instances: [] });
    const none = await open(empty.url);
    expect(none.res.statusCode).toBe(503);
    expect(none.res.headers['retry-after']).toBe('5');
    expect(none.body).toBe('Service Unavailable\n');
    const dead = await gateway({ instances: [await deadUrl()] });
    const refused = await open(dead.url);
    expect(refused.res.statusCode).toBe(502);
    expect(refused.body).toBe('Bad Gateway\n');
  });

  it('answers 400 to an upgrade request that announces a body, without taking a lease or calling an instance', async () => {
    // Node hands an upgrade request's bytes over in `head`, not through `req`: forwarded, the
    // request went out with its Content-Length and no body, and the client got a 502.
    const upstream = await listen((req, res) => {
      req.resume();
      req.on('end', () => res.end('not upgrading'));
    });
    const { proxy, url } = await gateway({ instances: [upstream.url] }, { retries: 0 });
    for (const framing of [
      'Content-Length: 2\r\n\r\nhi',
      'Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n',
    ]) {
      const answer = await new Promise<string>((resolve) => {
        const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
        socket.on('error', () => {});
        socket.on('close', () => resolve(text));
        socket.write(
          `GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${framing}`,
        );
      });
      expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    }
    expect(upstream.received).toEqual([]);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('aborts the upstream and frees the lease when the client leaves before the 101', async () => {
    const upstream = await wsEcho();
    const { url, proxy } = await gateway({ instances: [upstream.url] });
    const client = net.connect(Number(new URL(url).port), '127.0.0.1');
    client.on('error', () => {});
    client.write(
      'GET /hang HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await until(() => upstream.sockets.length === 1, 5_000, 'the upstream to get the upgrade');
    expect(inflight(proxy.balancer)).toBe(1);
    // A FIN, as a browser closing the tab sends: Node's server allows half-open sockets.
    client.end();
    await until(() => inflight(proxy.balancer) === 0, 5_000, 'the lease to be released');
    await until(() => upstream.sockets[0]!.destroyed, 5_000, 'the upstream socket to close');
    expect(proxy.balancer.instances()[0]!.failures).toBe(0);
    client.destroy();
  });

  it('sends the upstream what the client wrote before the 101, in order', async () => {
    const upstream = await wsEcho();
    const { url } = await gateway({ instances: [upstream.url] });
    const key = randomBytes(16).toString('base64');
    const client = net.connect(Number(new URL(url).port), '127.0.0.1');
    const received: Buffer[] = [];
    client.on('data', (data: Buffer) => received.push(data));
    const request =
      'GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    // The frame follows the request in a later write, before any answer came back.
    client.write(request, () => setImmediate(() => client.write(clientFrame(Buffer.from('early')))));
    const frame = serverFrame(Buffer.from('early'));
    await until(() => Buffer.concat(received).subarray(-frame.length).equals(frame), 5_000, 'the echo');
    client.destroy();
  });

  it('close() ends open tunnels and releases their leases', async () => {
    const upstream = await wsEcho();
    const { url, proxy } = await gateway({ instances: [upstream.url] });
    const { socket } = await open(url);
    expect(await echo(socket!, 'open')).toBe('open');
    expect(inflight(proxy.balancer)).toBe(1);
    const closed = new Promise((resolve) => socket!.once('close', resolve));
    await proxy.close();
    expect(inflight(proxy.balancer)).toBe(0);
    await closed;
    await until(() => upstream.sockets[0]!.destroyed, 5_000, 'the upstream socket to close');
  });

  it('answers 502 rather than write a header a response hook made unsafe onto the raw socket', async () => {
    const upstream = await wsEcho();
    const { url, proxy } = await gateway(
      { instances: [upstream.url] },
      {
        onProxyResponse: (res) => {
          // As a hook copying a client-supplied value would: a CRLF that splits the head.
          res.headers['x-echo'] = 'a\r\nx-injected: 1';
        },
      },
    );
    const answer = await open(url);
    answer.socket?.destroy(); // a tunnel, if one opened despite the hook, must not outlive the test
    expect(answer.res.statusCode).toBe(502);
    expect(answer.res.headers['x-injected']).toBeUndefined();
    expect(answer.body).toBe('Bad Gateway\n');
    await until(() => inflight(proxy.balancer) === 0);
    // The upstream answered the upgrade: the hook's fault is not held against it.
    expect(proxy.balancer.instances()[0]!.failures).toBe(0);
  });

  it('is a bound function, usable detached from the proxy', async () => {
    const upstream = await wsEcho();
    const { proxy } = await gateway({ instances: [upstream.url] });
    const { upgrade } = proxy;
    const server = http.createServer();
    server.on('upgrade', upgrade);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as import('node:net').AddressInfo).port;
    const { res, socket } = await open(`http://127.0.0.1:${port}`);
    expect(res.statusCode).toBe(101);
    expect(await echo(socket!, 'bound')).toBe('bound');
    socket!.destroy();
    await new Promise((resolve) => {
      server.close(resolve);
      server.closeAllConnections();
    });
    await until(() => inflight(proxy.balancer) === 0);
  });
});

const HANDSHAKE =
  'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** An upstream that takes upgrades and never answers them (as one stuck behind a slow handler). */
async function silentUpstream() {
  const up = await listen((_req, res) => res.end('plain'));
  const upgrades: Duplex[] = [];
  up.server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => {});
    upgrades.push(socket);
  });
  return Object.assign(up, {
    upgrades,
    dropUpgrades: () => upgrades.forEach((socket) => socket.destroy()),
  });
}

/**
 * A server whose 'upgrade' handler first waits for `ready(socket)` (an async auth step, say),
 * then hands the socket to the proxy, whatever became of the client meanwhile.
 */
async function deferringServer(
  proxy: ProxyHandler,
  ready: (socket: Duplex) => Promise<unknown>,
): Promise<{ port: number; handed: Promise<void>; close: () => Promise<void> }> {
  const server = http.createServer();
  let hand!: () => void;
  const handed = new Promise<void>((resolve) => (hand = resolve));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void ready(socket).then(() => {
      proxy.upgrade(req, socket, head);
      hand();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return { port: (server.address() as AddressInfo).port, handed, close };
}

describe('upgrade() given a socket the client already left', () => {
  it('takes no lease and calls no instance when the socket is already destroyed', async () => {
    const upstream = await silentUpstream();
    const { proxy } = await gateway({ instances: [upstream.url] }, { timeoutMs: 400, retries: 0 });
    const front = await deferringServer(proxy, (socket) => {
      const closed = new Promise((resolve) => socket.once('close', resolve));
      // The client's FIN, then the socket gone, before the proxy got it.
      socket.once('end', () => socket.destroy());
      socket.resume();
      return closed;
    });
    const client = net.connect(front.port, '127.0.0.1');
    client.on('error', () => {});
    client.write(HANDSHAKE, () => client.destroy());
    await front.handed;
    // Before: the lease was held (and the instance called) until the upstream answered, or,
    // from one that never does, until `timeoutMs`, which then counted against the instance.
    expect(inflight(proxy.balancer)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(upstream.upgrades).toHaveLength(0);
    expect(proxy.balancer.instances()[0]!.failures).toBe(0);
    upstream.dropUpgrades();
    await front.close();
  });

  it('takes no lease when the client already sent its FIN', async () => {
    const upstream = await silentUpstream();
    const { proxy } = await gateway({ instances: [upstream.url] }, { timeoutMs: 400, retries: 0 });
    const front = await deferringServer(proxy, (socket) => {
      const ended = new Promise((resolve) => socket.once('end', resolve));
      socket.resume();
      return ended;
    });
    const client = net.connect({ port: front.port, host: '127.0.0.1', allowHalfOpen: true });
    client.on('error', () => {});
    client.write(HANDSHAKE, () => client.end());
    await front.handed;
    expect(inflight(proxy.balancer)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(upstream.upgrades).toHaveLength(0);
    expect(proxy.balancer.instances()[0]!.failures).toBe(0);
    client.destroy();
    upstream.dropUpgrades();
    await front.close();
  });
});

describe('a half-closed tunnel', () => {
  /** The upstream's sides of the tunnels, destroyed after each test (before the servers close). */
  const held: Duplex[] = [];
  afterEach(() => held.splice(0).forEach((socket) => socket.destroy()));

  /**
   * An upstream that accepts every upgrade and keeps its side open after the client's FIN (Node
   * servers allow half-open), then does `afterFin` if given.
   */
  async function halfOpenUpstream(afterFin?: (socket: Duplex) => void): Promise<TestServer> {
    const upstream = await listen((_req, res) => res.end('plain'));
    upstream.server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => {});
      held.push(socket);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      if (afterFin !== undefined) socket.once('end', () => afterFin(socket));
    });
    return upstream;
  }

  it('is closed idleTimeoutMs after one side finished if the other never does, its lease released', async () => {
    const upstream = await halfOpenUpstream();
    const { url, proxy } = await gateway({ instances: [upstream.url] }, { idleTimeoutMs: 300 });
    const { port } = new URL(url);
    const client = net.connect({ port: Number(port), host: '127.0.0.1', allowHalfOpen: true });
    client.on('error', () => {});
    const answered = new Promise((resolve) => client.once('data', resolve));
    client.write(HANDSHAKE);
    await answered;
    expect(inflight(proxy.balancer)).toBe(1);
    const closed = new Promise((resolve) => client.once('close', resolve));
    client.end(); // the client's FIN; the upstream never sends its own
    await until(() => inflight(proxy.balancer) === 0, 2_000, 'the half-closed tunnel to be closed');
    await closed;
    expect(proxy.balancer.instances()[0]!.failures).toBe(0);
  });

  it('stays open while the other side still sends', async () => {
    // Output after the client closed its input, for longer than idleTimeoutMs in all.
    const upstream = await halfOpenUpstream((socket) => {
      let sent = 0;
      const timer = setInterval(() => {
        socket.write(`line ${(sent += 1)}\n`);
        if (sent === 8) {
          clearInterval(timer);
          socket.end();
        }
      }, 100);
    });
    const { url, proxy } = await gateway({ instances: [upstream.url] }, { idleTimeoutMs: 300 });
    const client = net.connect({ port: Number(new URL(url).port), host: '127.0.0.1', allowHalfOpen: true });
    client.on('error', () => {});
    let received = '';
    client.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const ended = new Promise((resolve) => client.once('end', resolve));
    client.write(HANDSHAKE);
    await until(() => received.includes('101'), 2_000, 'the 101');
    client.end();
    await ended;
    expect(received).toContain('line 8\n');
    await until(() => inflight(proxy.balancer) === 0, 2_000, 'the lease to be released');
    client.destroy();
  });
});
