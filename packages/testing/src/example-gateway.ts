import { request } from './client';
import { startProcess } from './process';
import { startUpstreams, type Upstream } from './upstream';

/**
 * The smoke test every example gateway passes: started as its own process with two real
 * upstreams per service, it balances `/users/*` and `/orders/*` (full paths upstream), serves
 * `/metrics` and the status page, and exits 0 on SIGTERM.
 */
export function testExampleGateway(label: string, entry: string, env: NodeJS.ProcessEnv = {}): void {
  let upstreams: Upstream[] = [];
  afterEach(async () => {
    await Promise.all(upstreams.map((u) => u.close()));
  });

  test(`the ${label} gateway balances both services, serves /metrics and the status page, and stops cleanly`, async () => {
    upstreams = await startUpstreams(['u1', 'u2', 'o1', 'o2']);
    const [u1, u2, o1, o2] = upstreams as [Upstream, Upstream, Upstream, Upstream];
    const app = await startProcess(entry, {
      env: {
        PORT: '0',
        USERS_INSTANCES: `${u1.url},${u2.url}`,
        ORDERS_INSTANCES: `${o1.url},${o2.url}`,
        ...env,
      },
      ready: new RegExp(`${label} gateway on (http://\\S+)`),
      timeoutMs: 30_000,
    });
    try {
      const url = app.match;
      for (let i = 0; i < 6; i += 1) {
        const users = await request(`${url}/users/${i}`);
        expect(users.status).toBe(200);
        expect(users.json()).toMatchObject({ name: expect.stringMatching(/^u[12]$/), url: `/users/${i}` });
        const orders = await request(`${url}/orders/${i}`);
        expect(orders.json()).toMatchObject({ name: expect.stringMatching(/^o[12]$/), url: `/orders/${i}` });
      }
      // Health checks (GET /healthz) aside, each users request reached one users instance.
      const served = (u: Upstream): number => u.received.filter((r) => r.url.startsWith('/users/')).length;
      expect(served(u1) + served(u2)).toBe(6);
      expect(Math.min(served(u1), served(u2))).toBeGreaterThan(0);

      const metrics = await request(`${url}/metrics`);
      expect(metrics.text).toMatch(
        /ballast_requests_total\{service="users",instance="[^"]+",outcome="success"\} \d/,
      );
      const snapshot = await request(`${url}/ballast/snapshot.json`);
      expect(snapshot.status).toBe(200);
      expect(snapshot.text).toContain('"orders"');
      const page = await request(`${url}/ballast/`);
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/text\/html/);
    } finally {
      expect(await app.stop()).toBe(0);
    }
  }, 60_000);
}
