import http from 'node:http';

import { balancer, status } from '@ballast/koa';
import { collectMetrics } from '@ballast/prometheus';
import Koa from 'koa';
import { Registry } from 'prom-client';

import { balanceUpgrades, serveGateway, type GatewayOptions, type RunningGateway } from '../../upstream/src';

export type { GatewayOptions, RunningGateway };

/** How Node reports a client's connection gone: its reset, or a response stream cut short. */
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * A Koa gateway: each service at `/<name>` (the upstream sees the full path), the live status
 * page at `/ballast/`, Prometheus metrics at `/metrics`, and `/healthz` for itself.
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
  const page = status(balancers, { token: options.statusToken, path: '/ballast' });

  const app = new Koa();
  // A client that goes away mid-response is routine for a gateway (Koa reports its reset and the
  // body's premature close as errors, a stack trace each); anything else is logged.
  app.on('error', (error: Error & { code?: string }, ctx?: Koa.Context) => {
    if (CLIENT_GONE.has(error.code ?? '') || ctx?.req.destroyed || ctx?.res.destroyed) return;
    if (logger !== undefined) logger.error({ err: error, url: ctx?.url }, 'koa gateway: request failed');
    else console.error(error);
  });
  app.use(page);
  app.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === '/healthz') {
      ctx.type = 'text/plain';
      ctx.body = 'ok\n';
    } else if (ctx.method === 'GET' && ctx.path === '/metrics') {
      ctx.type = registry.contentType;
      ctx.body = await registry.metrics();
    } else {
      await next();
    }
  });
  for (const proxy of proxies) {
    const prefix = `/${proxy.balancer.service}`;
    app.use((ctx, next) =>
      ctx.path === prefix || ctx.path.startsWith(`${prefix}/`) ? proxy(ctx, next) : next(),
    );
  }

  const handle = app.callback();
  const server = http.createServer((req, res) => void handle(req, res));
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
