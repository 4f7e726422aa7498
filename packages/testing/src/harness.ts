import type http from 'node:http';

import type { Balancer, BalancerOptions } from '@ballast/core';
import type { ProxyHandler, ProxyOptions } from '@ballast/node';

import type { Response } from './client';
import { startUpstream, startUpstreams, type EchoBody, type Upstream } from './upstream';

/** What every adapter's `balancer()` returns, as far as the shared suite is concerned. */
export interface GatewayMiddleware {
  readonly name: string;
  readonly balancer: Balancer;
  readonly proxy: ProxyHandler;
  close(): Promise<void>;
}

/** A running framework app with the middleware mounted at its root. */
export interface ServedApp {
  readonly url: string;
  readonly server: http.Server;
  close(): Promise<void>;
}

/** How the shared suite drives one adapter. */
export interface AdapterUnderTest<M extends GatewayMiddleware> {
  /** The adapter's `balancer()` factory. */
  balancer(target?: Balancer | BalancerOptions, proxyOptions?: Omit<ProxyOptions, 'onError'>): M;
  /** Serves a real framework app on 127.0.0.1:0 with the middleware at its root, WebSocket upgrades wired. */
  serve(middleware: M): Promise<ServedApp>;
}

/** A gateway under test: the served app, its middleware and a `close()` that stops both. */
export interface Gateway<M extends GatewayMiddleware> extends ServedApp {
  readonly middleware: M;
}

/** Options most tests use: no background health checks, retries on, deterministic order. */
export const QUIET: Omit<ProxyOptions, 'onError'> = { healthCheck: false, retries: 2 };

/** Sum of in-flight leases over the balancer's instances. */
export const inflight = (balancer: Balancer): number =>
  balancer.snapshot().instances.reduce((sum, i) => sum + i.inflight, 0);

/** Counts responses by the upstream name in their JSON echo. */
export function countByName(responses: readonly Response[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const res of responses) {
    const { name } = res.json<EchoBody>();
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/**
 * Tracks upstreams and gateways created in a test and closes them all afterwards, so a failed
 * assertion never leaves a server running.
 */
export function createHarness<M extends GatewayMiddleware>(adapter: AdapterUnderTest<M>) {
  const closers: Array<() => Promise<void>> = [];
  return {
    async upstreams(...args: Parameters<typeof startUpstreams>): Promise<Upstream[]> {
      const list = await startUpstreams(...args);
      for (const u of list) closers.push(() => u.close());
      return list;
    },
    async upstream(...args: Parameters<typeof startUpstream>): Promise<Upstream> {
      const u = await startUpstream(...args);
      closers.push(() => u.close());
      return u;
    },
    async gateway(
      target?: Balancer | BalancerOptions,
      proxyOptions?: Omit<ProxyOptions, 'onError'>,
    ): Promise<Gateway<M>> {
      return this.serve(adapter.balancer(target, proxyOptions));
    },
    /** Serves the middleware in the adapter's default app, or in the one `serve` builds. */
    async serve(
      middleware: M,
      serve: (middleware: M) => Promise<ServedApp> = adapter.serve,
    ): Promise<Gateway<M>> {
      let app: ServedApp;
      try {
        app = await serve(middleware);
      } catch (err) {
        await middleware.close();
        throw err;
      }
      let closing: Promise<void> | undefined;
      const close = () => (closing ??= app.close().finally(() => middleware.close()));
      closers.push(close);
      return { url: app.url, server: app.server, middleware, close };
    },
    /** Closes everything, newest first. */
    async closeAll(): Promise<void> {
      while (closers.length > 0) await closers.pop()!();
    },
  };
}
