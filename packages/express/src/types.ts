import type { Balancer } from '@ballast/core';
import type { ProxyError, ProxyHandler, ProxyOptions } from '@ballast/node';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * Options of the Express `balancer()`: those of `@ballast/node`'s `createProxy`, with an
 * `onError` that also receives Express's `next`.
 */
export interface ExpressProxyOptions extends Omit<ProxyOptions, 'onError'> {
  /**
   * Answers a failed request (`err.statusCode` 502, 503 or 504; 400 or 408 for a request the
   * client got wrong) instead of the proxy's short plain-text response. Call `next(err)` to hand it to the application's error handler.
   * Not called when another middleware has already begun the response (a timeout handler): the
   * response is its own, and answering again would cut it.
   */
  readonly onError?: (
    err: ProxyError,
    req: Request,
    res: Response,
    next: NextFunction,
  ) => void | Promise<void>;
}

/** The middleware `balancer()` returns: a request handler that also owns its proxy. */
export interface BalancerMiddleware extends RequestHandler {
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
