import http from 'node:http';
import net from 'node:net';

import {
  activeHandles,
  closeServer,
  expectNoHandlesBeyond,
  listen,
  startUpstreams,
  type Upstream,
} from '@ballast/testing';

import { startGateway as express } from '../../express-gateway/src/gateway';
import { startGateway as koa } from '../../koa-gateway/src/gateway';
import { startGateway as nest } from '../../nest-gateway/src/gateway';

let upstreams: Upstream[] = [];
afterEach(async () => {
  await Promise.all(upstreams.map((u) => u.close()));
});

describe.each([
  ['express', express],
  ['koa', koa],
  ['nest', nest],
])('the %s example gateway', (_name, startGateway) => {
  test('close() (what SIGINT and SIGTERM run) ends even while a keep-alive client sends back to back', async () => {
    upstreams = await startUpstreams(['u1', 'o1']);
    const gateway = await startGateway({
      services: { users: [upstreams[0]!.url], orders: [upstreams[1]!.url] },
      port: 0,
    });
    // A load generator, or any client reusing one connection without a pause between requests.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let running = true;
    const client = (async () => {
      while (running) {
        await new Promise<void>((resolve) => {
          http
            .get(`${gateway.url}/users/1`, { agent }, (res) => res.resume().on('end', resolve))
            .on('error', () => resolve());
        });
      }
    })();
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const closed = await Promise.race([
        gateway.close().then(() => 'closed'),
        new Promise((resolve) => setTimeout(() => resolve('still open after 3 s'), 3_000)),
      ]);
      expect(closed).toBe('closed');
    } finally {
      running = false;
      agent.destroy();
      await client;
    }
  }, 20_000);

  test('close() ends within its grace period even while a client holds a half-sent request', async () => {
    upstreams = await startUpstreams(['u1', 'o1']);
    const gateway = await startGateway({
      services: { users: [upstreams[0]!.url], orders: [upstreams[1]!.url] },
      port: 0,
    });
    const { port } = new URL(gateway.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    // The headers and 10 of the 100 bytes announced; the rest never comes.
    socket.write('POST /users/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    const closed = await Promise.race([
      gateway.close().then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still open after 4 s'), 4_000)),
    ]);
    expect(closed).toBe('closed');
    expect(Date.now() - started).toBeLessThan(4_000);
    socket.destroy();
  }, 20_000);

  test('a busy port rejects with EADDRINUSE and leaves nothing running (no health checks, no timers)', async () => {
    upstreams = await startUpstreams(['u1', 'o1']);
    const squatter = http.createServer();
    const port = Number(new URL(await listen(squatter)).port);
    const baseline = activeHandles();
    try {
      await expect(
        startGateway({ services: { users: [upstreams[0]!.url], orders: [upstreams[1]!.url] }, port }),
      ).rejects.toMatchObject({ code: 'EADDRINUSE' });
      await expectNoHandlesBeyond(baseline);
      // The example gateways check every 2 s: a gateway left behind would keep checking.
      const checks = () => upstreams.flatMap((u) => u.received).filter((r) => r.url === '/healthz').length;
      const before = checks();
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect(checks()).toBe(before);
    } finally {
      await closeServer(squatter);
    }
  }, 20_000);
});
