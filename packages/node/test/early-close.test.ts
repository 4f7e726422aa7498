import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { BalancerEvents } from '@ballast/core';
import { EarlyCloseCounter, WINDOW_MS, watchingConnector } from '../src/early-close';
import { cleanup, gateway, listen, named, send, until, type TestServer } from './helpers';

afterEach(cleanup);

/** Answers every request correctly, then closes the connection 1 ms later, unannounced. */
function closingEarly(): Promise<TestServer> {
  return listen((_req, res) => {
    const socket = res.socket;
    res.once('finish', () => setTimeout(() => socket?.destroy(), 1));
    res.end('early');
  });
}

/** One request after another: each finds the previous connection closed (or races it). */
async function sequential(url: string, n: number): Promise<string[]> {
  const texts: string[] = [];
  for (let i = 0; i < n; i++) {
    texts.push((await send(url)).text);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return texts;
}

describe('connections closed early', () => {
  it('eject an instance that closes every connection right after its response', async () => {
    const a = await named('a');
    const b = await named('b');
    const early = await closingEarly();
    const { url, proxy } = await gateway({
      strategy: 'round-robin',
      instances: [
        { id: 'a', url: a.url },
        { id: 'b', url: b.url },
        { id: 'early', url: early.url },
      ],
      health: { slowStart: false },
    });
    const ejects: BalancerEvents['eject'][] = [];
    proxy.balancer.on('eject', (e) => ejects.push(e));
    const texts = await sequential(url, 30);
    // Its responses were whole and correct: the GETs all succeeded (a race is retried).
    expect(texts.every((t) => ['a', 'b', 'early'].includes(t))).toBe(true);
    await until(() => ejects.length > 0, 2_000, 'an ejection');
    expect(ejects).toMatchObject([{ instance: { id: 'early' }, reason: 'closed-early' }]);
    expect(proxy.balancer.get('early')!.state).toBe('ejected');
    expect(proxy.balancer.get('a')!.state).toBe('healthy');
  });

  it('leave alone a server that announces its closes with Connection: close', async () => {
    const a = await named('a');
    const closing = await listen((_req, res) => {
      res.setHeader('connection', 'close');
      res.end('closing');
    });
    const { url, proxy } = await gateway(
      {
        strategy: 'round-robin',
        instances: [
          { id: 'a', url: a.url },
          { id: 'closing', url: closing.url },
        ],
      },
      { earlyCloseLimit: 2 },
    );
    const texts = await sequential(url, 20);
    expect(texts.filter((t) => t === 'closing')).toHaveLength(10);
    expect(proxy.balancer.get('closing')!.state).toBe('healthy');
  });

  it('leave alone idle timeouts, even ones shorter than undici assumes', async () => {
    // A raw HTTP/1.1 server that announces no keep-alive timeout and drops idle connections
    // after 1.2 s, before undici's default of 4 s: the closes are unannounced, but not early.
    const sockets = new Set<net.Socket>();
    // Requests are held until all six have arrived, so that they need six connections however
    // slowly the machine dispatches them (a fixed delay let a busy CI host reuse one).
    const held: (() => void)[] = [];
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      let idle: NodeJS.Timeout | undefined;
      socket.on('data', () => {
        clearTimeout(idle);
        held.push(() => {
          socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nidle');
          idle = setTimeout(() => socket.end(), 1_200);
        });
        if (held.length === 6) for (const answer of held.splice(0)) answer();
      });
      socket.once('close', () => clearTimeout(idle));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const idleUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      // Two instances: a pool of one can never eject its only instance.
      const a = await named('a');
      const { url, proxy } = await gateway(
        {
          strategy: 'round-robin',
          instances: [
            { id: 'idle', url: idleUrl },
            { id: 'a', url: a.url },
          ],
        },
        { earlyCloseLimit: 1 },
      );
      // Six connections at once, then silence: the server closes all six.
      const texts = await Promise.all(Array.from({ length: 12 }, () => send(url).then((r) => r.text)));
      expect(texts.filter((t) => t === 'idle')).toHaveLength(6);
      expect(sockets.size).toBe(6);
      await until(() => sockets.size === 0, 3_000, 'the server to close its idle connections');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(proxy.balancer.get('idle')!.state).toBe('healthy');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('can be turned off', async () => {
    const a = await named('a');
    const early = await closingEarly();
    const { url, proxy } = await gateway(
      {
        strategy: 'round-robin',
        instances: [
          { id: 'a', url: a.url },
          { id: 'early', url: early.url },
        ],
        health: { slowStart: false },
      },
      { earlyCloseLimit: false },
    );
    await sequential(url, 20);
    expect(proxy.balancer.get('early')!.state).not.toBe('ejected');
  });
});

describe('EarlyCloseCounter', () => {
  it('reports the limit-th early close in a row, and starts over on a clean close or a long gap', () => {
    let outliers = 0;
    const counter = new EarlyCloseCounter(3, () => (outliers += 1));
    counter.closed(true, 0);
    counter.closed(true, 10);
    counter.closed(false, 20); // a clean close: starts over
    counter.closed(true, 30);
    counter.closed(true, 40);
    expect(outliers).toBe(0);
    counter.closed(true, 50);
    expect(outliers).toBe(1);
    counter.closed(true, 60);
    counter.closed(true, 70);
    counter.closed(true, 70 + WINDOW_MS + 1); // too long after the one before: starts over
    counter.closed(true, 80 + WINDOW_MS);
    expect(outliers).toBe(1);
    counter.closed(true, 90 + WINDOW_MS);
    expect(outliers).toBe(2);
  });
});

describe('watchingConnector', () => {
  it('lets go of a socket when its user does (an upgrade), leaving no listener that blocks a pipe', async () => {
    const server = await listen((_req, res) => res.end());
    const connect = watchingConnector(1_000, new EarlyCloseCounter(5, () => {}));
    const socket = await new Promise<net.Socket>((resolve, reject) =>
      connect(
        { hostname: '127.0.0.1', host: '127.0.0.1', protocol: 'http:', port: String(server.port) },
        (error, s) => (error ? reject(error) : resolve(s as net.Socket)),
      ),
    );
    try {
      expect(socket.listenerCount('readable')).toBe(1);
      // As undici: its own listener while it uses the socket, removed when it hands it over.
      const user = () => {};
      socket.on('readable', user);
      socket.off('readable', user);
      expect(socket.listenerCount('readable')).toBe(0);
      expect(socket.listenerCount('removeListener')).toBe(0);
    } finally {
      socket.destroy();
    }
  });
});
