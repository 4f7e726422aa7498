import http from 'node:http';

import { balancer, status } from '@ballast/express';
import { collectMetrics } from '@ballast/prometheus';
import express from 'express';
import { Registry } from 'prom-client';

import { balanceUpgrades, serveGateway, type GatewayOptions, type RunningGateway } from '../../upstream/src';

export type { GatewayOptions, RunningGateway };

/**
 * An Express gateway: each service at `/<name>` (the upstream sees the full path), the live
 * status page at `/ballast/`, Prometheus metrics at `/metrics`, and `/healthz` for itself.
 */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { strategy, logger } = options;
  const proxies = Object.entries(options.services).map(([service, instances]) =>
    balancer(
      { service, instances, strategy, logger },
      { healthCheck: { path: '/healthz', intervalMs: 2_000 }, logger },
    ),
  );
  const balancers = proxies.map((proxy) => proxy.balancer);
  const registry = new Registry();
  const detachMetrics = collectMetrics(balancers, { registry });
  const page = status(balancers, { token: options.statusToken });

  const app = express();
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  app.use('/ballast', page);
  for (const proxy of proxies) {
    // Matched on the raw path rather than mounted: app.use('/users') would strip the mount
    // (GET /users/42 must stay /users/42), and a route with a `*rest` parameter answers 400,
    // with a stack trace in the log, to a path that does not percent-decode (/users/%zz).
    const prefix = `/${proxy.balancer.service}`;
    app.use((req, res, next) => {
      if (req.path === prefix || req.path.startsWith(`${prefix}/`)) proxy(req, res, next);
      else next();
    });
  }

  const server = http.createServer(app);
  balanceUpgrades(
    server,
    Object.fromEntries(proxies.map((proxy) => [proxy.balancer.service, proxy.upgrade])),
  );
  return serveGateway(server, options, balancers, async () => {
    page.close();
    detachMetrics();
    await Promise.all(proxies.map((proxy) => proxy.close()));
  });
}
