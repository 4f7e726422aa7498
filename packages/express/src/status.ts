import { isBalancer } from '@ballast/node';
import type { Balancer } from '@ballast/core';
import type { Request, RequestHandler, Response } from 'express';

/**
 * A handler that answers the balancer's `snapshot()` as JSON: service, strategy and every
 * instance with its state, health and in-flight count. A placeholder for the status page that
 * `@ballast/node` will serve.
 *
 * @example
 * ```ts
 * const users = balancer({ instances: ['http://127.0.0.1:3001'] });
 * app.get('/ballast/status', status(users));
 * app.use(users);
 * ```
 */
export function status(target: Balancer | { readonly balancer: Balancer }): RequestHandler {
  const source = isBalancer(target) ? target : target.balancer;
  return function ballastStatus(_req: Request, res: Response): void {
    res.set('cache-control', 'no-store').json(source.snapshot());
  };
}
