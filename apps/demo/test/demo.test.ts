import http from 'node:http';
import path from 'node:path';

import type { StatusSnapshot } from '@ballast/node';
import { closeServer, listen, request, startProcess } from '@ballast/testing';

// `npm start` runs this very file with node (package.json: "start": "node apps/demo/index.mjs").
const DEMO = path.join(__dirname, '..', 'index.mjs');

describe.each([
  ['express', []],
  ['koa', ['--adapter', 'koa']],
  ['nest', ['--adapter', 'nest']],
])('npm start with the %s adapter', (adapter, args) => {
  test('balances real traffic over the four demo upstreams, prints the live summary, and stops cleanly', async () => {
    // Take a port first, so the demo has to fall back from a busy PORT to a free one.
    const squatter = http.createServer();
    const busy = new URL(await listen(squatter)).port;
    const demo = await startProcess(DEMO, {
      args: [...args, '--rate', '40'],
      // An empty variable counts as unset: the default strategy, not an error.
      env: { PORT: busy, BALLAST_STRATEGY: '', DEMO_RATE: '' },
      ready: /Gateway listening on (http:\/\/\S+)/,
      timeoutMs: 30_000,
    });
    try {
      const url = demo.match;
      expect(demo.output()).toContain(`Port ${busy} is busy`);
      expect(demo.output()).toContain(
        `Ballast demo: ${adapter} gateway, strategy adaptive (default), 40 req/s`,
      );

      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => request(`${url}/users/${i}`)));
      for (const res of answers) {
        // flaky's 503s are retried on another instance: the client sees 200.
        expect(res.status).toBe(200);
        expect(res.json()).toMatchObject({ upstream: expect.stringMatching(/^(fast|slow|flaky|phoenix)$/) });
      }
      const snapshot = (await request(`${url}/ballast/snapshot.json`)).json<StatusSnapshot>();
      const users = snapshot.services.find((s) => s.service === 'users')!;
      expect(users.instances.map((i) => i.id).sort()).toEqual(
        snapshot.services[0]!.instances.map((i) => i.id).sort(),
      );
      expect(users.instances).toHaveLength(4);
      expect((await request(`${url}/metrics`)).text).toContain('ballast_requests_total{service="users"');

      // Not a terminal: the summary is printed every 5 s, one line per instance.
      const deadline = Date.now() + 15_000;
      while (!/^ {2}\S+ +\S+ +health \d\.\d\d +in-flight/m.test(demo.output()) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 200));
      expect(demo.output()).toMatch(/^users \(/m);
      expect(demo.output()).toMatch(/^ {2}\S+ +\S+ +health \d\.\d\d +in-flight/m);
    } finally {
      expect(await demo.stop()).toBe(0);
      await closeServer(squatter);
    }
    expect(demo.output()).toContain('Stopped.');
  }, 60_000);
});
