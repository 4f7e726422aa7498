import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { BalancerOptions } from '@ballast/core';
import { balancer, type BalancerMiddleware, type ExpressProxyOptions } from '@ballast/express';
import express from 'express';

/**
 * The balancer settings of every reliability run: round-robin (so each instance gets a third of
 * the traffic and a fault shows at once), and a health model with short windows, so that
 * detection and recovery take seconds and a fault run fits in a CI test.
 */
export const HEALTH: BalancerOptions['health'] = {
  // An instance 1.5x slower than the others' mean loses health in proportion: 5x slower sits at 0.3.
  latencyFactor: 1.5,
  recoveryHalfLifeMs: 1_000,
  outlier: {
    consecutiveFailures: 3,
    intervalMs: 500,
    baseEjectionMs: 1_000,
    maxEjectionMs: 4_000,
    maxEjectionPercent: 34,
  },
  slowStart: { windowMs: 500 },
};

/** Proxy settings: a 1 s headers timeout finds a hung instance; up to two retries. */
export const PROXY: ExpressProxyOptions = {
  retries: 2,
  timeoutMs: 1_000,
  connectTimeoutMs: 500,
  // Three instances, one faulty: a third of the traffic may need a retry.
  retryBudget: { ratio: 0.5, minRetriesPerSecond: 50 },
  healthCheck: false,
};

/**
 * How long after a fault starts its instance must be out of rotation: one headers timeout (a
 * hung instance fails only then), two outlier sweeps, and a second for the latency comparison
 * that finds a slow one.
 */
export const DETECTION_WINDOW_MS = 3_000;
/** How long after a fault ends its instance must be back: the longest ejection plus a sweep. */
export const RECOVERY_WINDOW_MS = 4_500;

/** A running Express gateway in front of `urls`. */
export interface Gateway {
  readonly url: string;
  readonly server: http.Server;
  readonly middleware: BalancerMiddleware;
  /** Closes the server (dropping client connections), then the proxy. */
  close(): Promise<void>;
}

/** Starts an Express app with `balancer()` at its root on 127.0.0.1:0. */
export async function startGateway(
  instances: readonly { id: string; url: string }[],
  options: { proxy?: ExpressProxyOptions; backlog?: number } = {},
): Promise<Gateway> {
  const middleware = balancer(
    { service: 'reliability', strategy: 'round-robin', instances, health: HEALTH },
    { ...PROXY, ...options.proxy },
  );
  const app = express();
  app.disable('x-powered-by');
  app.use(middleware);
  const server = http.createServer(app);
  server.on('upgrade', middleware.upgrade);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', backlog: options.backlog ?? 511 }, () => resolve());
  });
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    middleware,
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await middleware.close();
      })()),
  };
}
