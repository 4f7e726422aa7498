import type { IncomingMessage } from 'node:http';
import type { Balancer, BalancerOptions } from '@ballast/core';
import {
  adapterOptions,
  createProxy,
  type ProxyOptions,
  resolveTarget,
  trustedByExpress,
} from '@ballast/node';
import type { NextFunction, Request, Response } from 'express';

import { parsedBody } from './parsed-body';
import type { BalancerMiddleware, ExpressProxyOptions } from './types';

/**
 * A reverse-proxy middleware that spreads requests over the instances of one upstream service,
 * health-aware (see `@ballast/core`) and with retries, timeouts and `X-Forwarded-*` handling
 * (see `@ballast/node`).
 *
 * - `target`: an existing `Balancer`, or `BalancerOptions`. Options without `instances` take
 *   them from `BALLAST_INSTANCES` (comma-separated URLs), and a missing `strategy` from
 *   `BALLAST_STRATEGY`; with neither, it throws `BALLAST_INVALID_CONFIG`.
 * - Mounted under a path (`app.use('/api', ...)`), the upstream sees the path without it.
 * - A body a body parser already read is re-sent from `req.body` (JSON, urlencoded, text, raw);
 *   any other consumed body is passed to `next()` as a `BALLAST_BODY_CONSUMED` error.
 * - Upstream failures are answered 502, 503 (with `Retry-After`) or 504, unless `onError`
 *   takes over (for example by calling `next(err)`).
 *
 * Call `close()` on shutdown; wire `upgrade` for WebSockets.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { balancer } from '@ballast/express';
 *
 * const app = express();
 * const users = balancer({ instances: ['http://127.0.0.1:3001', 'http://127.0.0.1:3002'] });
 * app.use('/users', users);
 * const server = app.listen(3000);
 * server.on('upgrade', users.upgrade);
 * ```
 */
export function balancer(
  target?: Balancer | BalancerOptions,
  proxyOptions?: ExpressProxyOptions,
): BalancerMiddleware {
  const { onError, ...options } = adapterOptions(proxyOptions);
  // The proxy's onError knows req and res only; Express's next is looked up per request.
  const nexts = new WeakMap<IncomingMessage, NextFunction>();
  const handle: ProxyOptions['onError'] =
    onError &&
    ((err, req, res) => onError(err, req as Request, res as Response, nexts.get(req) ?? (() => undefined)));
  const proxy = createProxy(resolveTarget(target), {
    ...options,
    trustForwarded: options.trustForwarded ?? trustedByExpress,
    onError: handle,
  });

  function ballastProxy(req: Request, res: Response, next: NextFunction): void {
    if (onError) nexts.set(req, next);
    if (!req.readableEnded) return proxy(req, res, next);

    // A body parser read the stream: the handler re-sends what it parsed in its place.
    let body: Buffer;
    try {
      body = parsedBody(req);
    } catch (err) {
      return next(err);
    }
    proxy.withBody(req, res, body, next);
  }

  return Object.assign(ballastProxy, {
    proxy,
    balancer: proxy.balancer,
    upgrade: proxy.upgrade,
    close: () => proxy.close(),
  });
}
