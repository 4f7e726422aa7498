import http from 'node:http';

import { startUpstreams, type Upstream } from '@ballast/testing';

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
});
