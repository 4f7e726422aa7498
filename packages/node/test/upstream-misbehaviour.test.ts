import net, { type AddressInfo } from 'node:net';
import type { Strategy } from '@ballast/core';
import { cleanup, gateway, inflight, named, send } from './helpers';

afterEach(cleanup);

const first: Strategy = { name: 'first', pick: (candidates) => candidates[0] };

interface RawServer {
  url: string;
  /** Sockets that carried a request and are still open. */
  busy: Set<net.Socket>;
  connections: number;
  open: Set<net.Socket>;
  requests: string[];
}
const rawServers: net.Server[] = [];
afterEach(async () => {
  for (const s of rawServers.splice(0)) await new Promise((r) => s.close(() => r(undefined)));
});

/** A misbehaving upstream: `onRequest` gets the socket once a request head arrived. */
async function raw(onRequest: (socket: net.Socket, head: string) => void): Promise<RawServer> {
  const state: RawServer = { url: '', busy: new Set(), connections: 0, open: new Set(), requests: [] };
  const server = net.createServer((socket) => {
    state.connections += 1;
    state.open.add(socket);
    socket.on('close', () => {
      state.open.delete(socket);
      state.busy.delete(socket);
    });
    socket.on('error', () => {});
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffered.slice(0, end);
      buffered = buffered.slice(end + 4);
      state.requests.push(head.split('\r\n')[0]!);
      state.busy.add(socket);
      onRequest(socket, head);
    });
  });
  rawServers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = server.close.bind(server);
  server.close = ((cb?: () => void) => {
    for (const s of state.open) s.destroy();
    return close(cb);
  }) as never;
  return state;
}

function watch(proxy: { balancer: import('@ballast/core').Balancer }) {
  const releases: { id: string; ok: boolean; status?: number }[] = [];
  proxy.balancer.on('release', (e: any) =>
    releases.push({ id: e.instance.id, ok: e.outcome.ok, status: e.outcome.status }),
  );
  return releases;
}

const outcome = (url: string, method = 'GET', body?: string) =>
  send(url, { method, body }).then(
    (r) => `${r.status} ${r.text}`,
    (e: Error) => `error ${e.message}`,
  );

describe('misbehaving upstreams', () => {
  it('retries stops at `retries`: 3 resetting instances with retries 2 means 3 attempts, one each', async () => {
    const servers = await Promise.all([0, 1, 2, 3].map(() => raw((s) => s.destroy())));
    const { url, proxy } = await gateway(
      { strategy: first, instances: servers.map((s) => s.url) },
      { retries: 2 },
    );
    const releases = watch(proxy);
    expect(await outcome(url)).toBe('502 Bad Gateway\n');
    expect(servers.map((s) => s.requests.length)).toEqual([1, 1, 1, 0]);
    expect(releases.map((r) => r.ok)).toEqual([false, false, false]);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('an upstream dying mid-body is logged, through forward() as through the handler', async () => {
    const dies = await raw((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
      setTimeout(() => socket.destroy(), 20);
    });
    const lines: string[] = [];
    const logger = {
      debug: (_o: object, msg?: string) => void lines.push(String(msg)),
      info() {},
      warn() {},
      error() {},
    };
    const { url, proxy } = await gateway(
      { instances: [dies.url] },
      { logger, retries: 0, bufferResponseBytes: 0 },
    );
    await send(url).catch(() => undefined); // the handler: the client's connection is closed
    const upstream = await proxy.forward({ method: 'GET', url: '/', headers: {}, socket: {} } as never);
    await new Promise((resolve) => upstream.body.on('error', resolve).resume());
    expect(lines.filter((line) => line === 'ballast: upstream failed mid-response')).toHaveLength(2);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('103 Early Hints before the 200 are skipped; the 200 is relayed and counted', async () => {
    const s = await raw((socket) => {
      socket.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n');
      setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 20);
    });
    const { url, proxy } = await gateway({ strategy: first, instances: [s.url] });
    const releases = watch(proxy);
    expect(await outcome(url)).toBe('200 ok');
    expect(releases).toEqual([{ id: expect.any(String), ok: true, status: 200 }]);
  });

  it('a response with more bytes than its Content-Length: client gets exactly the announced bytes', async () => {
    const s = await raw((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA');
    });
    const { url, proxy } = await gateway({ strategy: first, instances: [s.url] });
    const releases = watch(proxy);
    expect(await outcome(url)).toBe('200 ok');
    expect(releases.length).toBe(1);
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('a 204 that carries a Content-Length is relayed as 204 (RFC 9112 §6.3: it has no body), as the 304 case is', async () => {
    const s = await raw((socket) => socket.write('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n'));
    const { url, proxy } = await gateway({ strategy: first, instances: [s.url] });
    const releases = watch(proxy);
    expect(await outcome(url, 'DELETE')).toBe('204 ');
    expect(releases).toEqual([{ id: expect.any(String), ok: true, status: 204 }]);
  });

  it('a HEAD answered with a body does not break the next request', async () => {
    const s = await raw((socket, head) => {
      if (head.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const { url, proxy } = await gateway({ strategy: first, instances: [s.url] });
    const releases = watch(proxy);
    const head = await send(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.text).toBe('');
    expect(await outcome(url, 'POST', 'x')).toBe('200 ok');
    expect(releases.map((r) => r.ok)).toEqual([true, true]);
  });

  it('a never-answering instance: each attempt gets timeoutMs, 504, both leases record failure', async () => {
    const a = await raw(() => {});
    const b = await raw(() => {});
    const { url, proxy } = await gateway({ strategy: first, instances: [a.url, b.url] }, { timeoutMs: 150 });
    const releases = watch(proxy);
    const t0 = Date.now();
    expect(await outcome(url)).toBe('504 Gateway Timeout\n');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(releases.map((r) => r.ok)).toEqual([false, false]);
    expect(inflight(proxy.balancer)).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    // the upstream request was aborted
    expect(a.busy.size + b.busy.size).toBe(0);
  });

  it('held response whose body stalls past idleTimeoutMs: 504 for POST, counted against the instance', async () => {
    const a = await raw((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    const b = await named('b');
    const { url, proxy } = await gateway(
      { strategy: first, instances: [a.url, b.url] },
      { idleTimeoutMs: 150 },
    );
    const releases = watch(proxy);
    expect(await outcome(url, 'POST', 'x')).toBe('504 Gateway Timeout\n');
    expect(releases.map((r) => r.ok)).toEqual([false]);
    expect(await outcome(url, 'GET')).toBe('200 b');
    expect(inflight(proxy.balancer)).toBe(0);
  });
});
