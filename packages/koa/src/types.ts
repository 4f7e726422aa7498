import type { Balancer } from '@ballast/core';
import type { ProxyError, ProxyHandler, ProxyOptions } from '@ballast/node';
import type { Context, Middleware } from 'koa';

/**
 * Options of the Koa `balancer()`: those of `@ballast/node`'s `createProxy`, with an `onError`
 * that receives the Koa context.
 */
export interface KoaProxyOptions extends Omit<ProxyOptions, 'onError'> {
  /**
   * Answers a failed request (`err.statusCode` 502, 503 or 504; 400 or 408 for a request the
   * client got wrong) instead of the default, which sets `ctx.status` (and `Retry-After` for 503). Throw `err` to hand it to Koa's error
   * handling (your error middleware, then `app.on('error')`).
   */
  readonly onError?: (err: ProxyError, ctx: Context) => void | Promise<void>;
}

/** The middleware `balancer()` returns: a Koa middleware that also owns its proxy. */
export interface BalancerMiddleware extends Middleware {
  /** The proxy engine behind the middleware. */
  readonly proxy: ProxyHandler;
  /** The balancer requests are spread by. */
  readonly balancer: Balancer;
  /** Balances WebSocket upgrades: `server.on('upgrade', middleware.upgrade)`. */
  readonly upgrade: ProxyHandler['upgrade'];
  /**
   * Stops health checks and closes upstream connections (and the balancer, if `balancer()`
   * created it). Idempotent.
   */
  close(): Promise<void>;
}
