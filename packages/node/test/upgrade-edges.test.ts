// Upgrades (WebSockets) on the wire: head bytes and bytes behind the 101, hop-by-hop headers,
// answers that are not a tunnel, timeouts, retries, client aborts, backpressure, a slow reader
// when the upstream closes, and close() with upgrades in flight.
import http, { type IncomingMessage } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Strategy } from '@ballast/core';
import { createProxy } from '../src';
import { blackholeUrl, cleanup, gateway, inflight, listen, until } from './helpers';

const allHeld: Duplex[] = [];
afterEach(async () => {
  allHeld.splice(0).forEach((socket) => socket.destroy());
  await cleanup();
});

const HANDSHAKE =
  'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
const HEAD_101 = 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
const first: Strategy = { name: 'first', pick: (candidates) => candidates[0] };

function rawClient(port: number, allowHalfOpen = false) {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen });
  const state = { text: '', ended: false, closed: false };
  socket.on('data', (chunk: Buffer) => (state.text += chunk.toString('latin1')));
  socket.on('end', () => (state.ended = true));
  socket.on('close', () => (state.closed = true));
  socket.on('error', () => {});
  return Object.assign(state, { socket });
}

/** An upstream whose 'upgrade' handler is `onUpgrade`; its sockets are destroyed at the end. */
async function upgradeServer(onUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void) {
  const held: Duplex[] = [];
  const upstream = await listen((_req, res) => res.end('plain'));
  upstream.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    // As a WebSocket server: the peer's FIN closes the connection.
    socket.on('end', () => socket.end());
    held.push(socket);
    allHeld.push(socket);
    onUpgrade(req, socket, head);
  });
  return Object.assign(upstream, { held, drop: () => held.forEach((s) => s.destroy()) });
}

describe('upgrade wire details', () => {
  it('forwards `head` (bytes in the same packet as the request) and relays bytes in the same packet as the 101', async () => {
    let got = '';
    const upstream = await upgradeServer((_req, socket, head) => {
      got += head.toString();
      socket.on('data', (d: Buffer) => (got += d.toString()));
      socket.write(HEAD_101 + 'hello-from-upstream'); // one write: one packet
    });
    const { url, proxy } = await gateway({ instances: [upstream.url] });
    const client = rawClient(Number(new URL(url).port));
    client.socket.write(HANDSHAKE + 'early-bytes'); // one write: Node hands these over in `head`
    await until(() => client.text.endsWith('hello-from-upstream'), 3_000, 'the data after the 101');
    await until(() => got === 'early-bytes', 3_000, 'the head bytes upstream');
    expect(client.text).toMatch(/^HTTP\/1\.1 101 /);
    client.socket.destroy();
    await until(() => inflight(proxy.balancer) === 0, 3_000, 'release');
    upstream.drop();
  });

  it('passes Connection: Upgrade and Upgrade, and drops headers named in Connection, both ways', async () => {
    let seen: IncomingMessage['headers'] = {};
    const upstream = await upgradeServer((req, socket) => {
      seen = req.headers;
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade, X-Internal\r\nUpgrade: websocket\r\n' +
          'X-Internal: secret\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\n\r\n',
      );
    });
    const { url } = await gateway({ instances: [upstream.url] });
    const client = rawClient(Number(new URL(url).port));
    client.socket.write(
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade, X-Hop\r\nUpgrade: websocket\r\n' +
        'X-Hop: 1\r\nKeep-Alive: 300\r\nProxy-Authorization: Basic eA==\r\nX-End: 2\r\n\r\n',
    );
    await until(() => client.text.includes('\r\n\r\n'), 3_000, 'the 101');
    expect(seen.connection?.toLowerCase()).toBe('upgrade');
    expect(seen.upgrade).toBe('websocket');
    expect(seen['x-hop']).toBeUndefined();
    expect(seen['keep-alive']).toBeUndefined();
    expect(seen['proxy-authorization']).toBeUndefined();
    expect(seen['x-end']).toBe('2');
    const head = client.text.toLowerCase();
    expect(head).toMatch(/^http\/1\.1 101 /);
    expect(head).toContain('\r\nconnection: upgrade\r\n');
    expect(head).toContain('\r\nupgrade: websocket\r\n');
    expect(head).toContain('\r\nx-kept: yes\r\n');
    expect(head).not.toContain('x-internal');
    expect(head).not.toContain('keep-alive');
    client.socket.destroy();
    upstream.drop();
  });

  it('relays a chunked non-101 answer whole (status, headers, body), closes, and releases the lease ok', async () => {
    const upstream = await upgradeServer((_req, socket) => {
      socket.end(
        'HTTP/1.1 401 Unauthorized\r\nX-Why: token\r\nTransfer-Encoding: chunked\r\n\r\n' +
          '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
      );
    });
    const { url, proxy } = await gateway({ instances: [upstream.url] });
    const client = rawClient(Number(new URL(url).port));
    client.socket.write(HANDSHAKE);
    await until(() => client.closed, 3_000, 'the connection to close');
    const [head, body] = client.text.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
    expect(head!.toLowerCase()).toContain('x-why: token');
    expect(head!.toLowerCase()).toContain('connection: close');
    expect(head!.toLowerCase()).not.toContain('transfer-encoding');
    expect(body).toBe('hello world');
    await until(() => inflight(proxy.balancer) === 0, 3_000, 'release');
    const [instance] = proxy.balancer.snapshot().instances;
    expect(instance).toMatchObject({ requests: 1, failures: 0 });
  });

  it('answers 504 on the socket when no 101 comes within timeoutMs, counting a failure', async () => {
    const upstream = await upgradeServer(() => {});
    const { url, proxy } = await gateway({ instances: [upstream.url] }, { timeoutMs: 300, retries: 0 });
    const client = rawClient(Number(new URL(url).port));
    client.socket.write(HANDSHAKE);
    await until(() => client.closed, 3_000, 'the 504');
    expect(client.text).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    expect(inflight(proxy.balancer)).toBe(0);
    expect(proxy.balancer.snapshot().instances[0]).toMatchObject({ requests: 1, failures: 1 });
    await until(() => upstream.held[0]!.destroyed, 3_000, 'the upstream attempt to be aborted');
  });

  it('answers 504 when the connection never opens within connectTimeoutMs', async () => {
    const hole = await blackholeUrl();
    const { url, proxy } = await gateway({ instances: [hole] }, { connectTimeoutMs: 300, retries: 0 });
    const client = rawClient(Number(new URL(url).port));
    client.socket.write(HANDSHAKE);
    await until(() => client.closed, 5_000, 'the 504');
    expect(client.text).toMatch(/^HTTP\/1\.1 504 /);
    expect(inflight(proxy.balancer)).toBe(0);
    expect(proxy.balancer.snapshot().instances[0]!.failures).toBe(1);
  });

  it('retries on another instance when the first closes the connection without answering', async () => {
    const bad = await upgradeServer((_req, socket) => socket.destroy());
    const good = await upgradeServer((_req, socket) => socket.write(HEAD_101));
    const { url, proxy } = await gateway({ strategy: first, instances: [bad.url, good.url] });
    const client = rawClient(Number(new URL(url).port));
    client.socket.write(HANDSHAKE);
    await until(() => client.text.includes('\r\n\r\n'), 3_000, 'the 101');
    expect(client.text).toMatch(/^HTTP\/1\.1 101 /);
    client.socket.destroy();
    await until(() => inflight(proxy.balancer) === 0, 3_000, 'release');
    const [a, b] = proxy.balancer.snapshot().instances;
    expect(a).toMatchObject({ requests: 1, failures: 1 });
    expect(b).toMatchObject({ requests: 1, failures: 0 });
    good.drop();
  });

  it('a client reset before the 101 aborts the upstream attempt and is not held against the instance', async () => {
    const upstream = await upgradeServer(() => {});
    const { url, proxy } = await gateway({ instances: [upstream.url] });
    const releases: unknown[] = [];
    proxy.balancer.on('release', (event) => releases.push(event.outcome));
    const client = net.connect(Number(new URL(url).port), '127.0.0.1');
    client.on('error', () => {});
    client.write(HANDSHAKE);
    await until(() => upstream.held.length === 1, 3_000, 'the upstream to get it');
    client.resetAndDestroy();
    await until(() => inflight(proxy.balancer) === 0, 3_000, 'release');
    await until(() => upstream.held[0]!.destroyed, 3_000, 'the upstream attempt to be aborted');
    expect(proxy.balancer.snapshot().instances[0]!.failures).toBe(0);
    expect(releases).toHaveLength(1);
    expect(releases[0]).toMatchObject({ ok: true });
  });

  it('applies backpressure both ways: a client that does not read pauses the upstream, and vice versa', async () => {
    let upSide!: net.Socket;
    const upstream = await upgradeServer((_req, socket) => {
      upSide = socket as net.Socket;
      socket.write(HEAD_101);
    });
    const { url, proxy } = await gateway({ instances: [upstream.url] });
    const client = net.connect(Number(new URL(url).port), '127.0.0.1');
    client.on('error', () => {});
    await new Promise<void>((resolve) => {
      client.once('data', () => resolve());
      client.write(HANDSHAKE);
    });
    client.pause();
    upSide.pause();
    const chunk = Buffer.alloc(64 * 1024);
    // Each side writes 48 MiB the other never reads: the writers' own buffers must back up.
    for (let i = 0; i < 768; i++) {
      upSide.write(chunk);
      client.write(chunk);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Of 48 MiB, the kernel buffers and the proxy's hold a few MiB at most; the rest waits.
    expect(upSide.writableLength).toBeGreaterThan(32 * 1024 * 1024);
    expect(client.writableLength).toBeGreaterThan(32 * 1024 * 1024);
    client.destroy();
    await until(() => inflight(proxy.balancer) === 0, 3_000, 'release');
    upstream.drop();
  });

  it('close() waits for an upgrade in flight, then ends the tunnel it opened', async () => {
    let answer!: () => void;
    const upstream = await upgradeServer((_req, socket) => (answer = () => socket.write(HEAD_101)));
    const { url, proxy } = await gateway({ instances: [upstream.url] });
    const client = rawClient(Number(new URL(url).port));
    client.socket.write(HANDSHAKE);
    await until(() => upstream.held.length === 1, 3_000, 'the upstream to get it');
    const closing = proxy.close();
    setTimeout(() => answer(), 100);
    await closing;
    await until(() => client.closed && upstream.held[0]!.destroyed, 3_000, 'both sockets to close');
    expect(client.text).toMatch(/^HTTP\/1\.1 101 /);
    expect(inflight(proxy.balancer)).toBe(0);
  });
});

describe('proxy.close()', () => {
  it('ends a tunnel whose 101 came after close(), for an instance removed while its upgrade was pending', async () => {
    const held: Duplex[] = [];
    const upstream = await listen((_req, res) => res.end('plain'));
    let answer!: () => void;
    upstream.server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => {});
      // The upstream's own socket stays half-open (Node's servers allow it); the proxy's end of
      // the connection shows as this side's end.
      socket.on('end', () => socket.destroy());
      held.push(socket);
      answer = () => socket.write(HEAD_101);
    });
    const { url, proxy } = await gateway({ instances: [upstream.url] });
    const client = rawClient(Number(new URL(url).port));
    client.socket.write(HANDSHAKE);
    await until(() => held.length === 1, 3_000, 'the upstream to get the upgrade');
    // Discovery drops the instance while its upgrade waits for the 101; then shutdown.
    proxy.balancer.remove(proxy.balancer.instances()[0]!.id);
    await proxy.close();
    answer();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const state = {
      got101: client.text.startsWith('HTTP/1.1 101 '),
      clientClosed: client.closed,
      upstreamClosed: held[0]!.destroyed,
      inflight: inflight(proxy.balancer),
    };
    client.socket.destroy();
    held.forEach((s) => s.destroy());
    expect(state).toEqual({ got101: true, clientClosed: true, upstreamClosed: true, inflight: 0 });
  });
});

describe('an upgrade answered without a tunnel', () => {
  it('closes the connection after a 503 even if the client keeps its side open', async () => {
    const { url, server } = await gateway({ instances: [] }, { idleTimeoutMs: 200 });
    const client = rawClient(Number(new URL(url).port), true);
    client.socket.write(HANDSHAKE);
    await until(() => client.ended, 3_000, 'the 503');
    expect(client.text).toMatch(/^HTTP\/1\.1 503 /);
    // The client neither ends nor destroys its side (a misbehaving or idle client): the proxy's
    // side is closed anyway (server.closeAllConnections() does not see upgraded sockets).
    const connections = () =>
      new Promise<number>((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const open = await connections();
    client.socket.destroy();
    expect(open).toBe(0);
  });
});

describe('a tunnel the upstream closes', () => {
  it('delivers everything the upstream sent before its FIN to a client that reads slowly', async () => {
    let upstreamSide: Duplex | undefined;
    const upstream = await listen((_req, res) => res.end('plain'));
    upstream.server.on('upgrade', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => {});
      upstreamSide = socket;
      socket.write(HEAD_101);
    });
    const proxy = createProxy({ instances: [upstream.url] });
    let proxySide: net.Socket | undefined;
    const server = http.createServer(proxy);
    server.on('upgrade', (req: IncomingMessage, socket: net.Socket, head: Buffer) => {
      proxySide = socket;
      proxy.upgrade(req, socket, head);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      client.on('error', () => {});
      let received = 0;
      let text = '';
      let headDone = false;
      const onData = (chunk: Buffer): void => {
        if (headDone) {
          received += chunk.length;
          return;
        }
        text += chunk.toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        if (end >= 0) {
          headDone = true;
          received += text.length - end - 4;
          text = text.slice(0, end + 4);
        }
      };
      client.on('data', onData);
      client.write(HANDSHAKE);
      await until(() => headDone, 3_000, 'the 101');
      expect(text).toMatch(/^HTTP\/1\.1 101 /);
      // The client stops reading (a slow consumer): the kernel buffers fill, then the proxy's.
      client.pause();
      const chunk = Buffer.alloc(4 * 1024, 0x61);
      let sent = 0;
      while (proxySide!.writableLength === 0) {
        upstreamSide!.write(chunk);
        sent += chunk.length;
        await new Promise((resolve) => setTimeout(resolve, 1));
        if (sent > 64 * 1024 * 1024) throw new Error('the kernel buffers never filled');
      }
      // A few bytes sit in the proxy's buffer for the client; the upstream finishes (FIN).
      upstreamSide!.end();
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Was: the client's socket was destroyed with those bytes still queued on it.
      const pendingWhenClosed = proxySide!.destroyed ? 'destroyed' : 'open';
      const ended = new Promise((resolve) => {
        client.once('end', resolve);
        client.once('close', resolve);
      });
      client.resume();
      await ended;
      expect({ received, pendingWhenClosed }).toEqual({ received: sent, pendingWhenClosed: 'open' });
      client.destroy();
      await until(() => inflight(proxy.balancer) === 0, 3_000, 'the lease to be released');
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        proxySide?.destroy();
      });
      await proxy.close();
    }
  }, 20_000);
});
