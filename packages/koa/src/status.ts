import { isBalancer } from '@ballast/node';
import type { Balancer } from '@ballast/core';
import type { Context, Middleware, Next } from 'koa';

/**
 * A middleware that answers `GET <path>` (default `/ballast/status`) with the balancer's
 * `snapshot()` as JSON: service, strategy and every instance with its state, health and
 * in-flight count; other requests pass on. A placeholder for the status page that
 * `@ballast/node` will serve.
 *
 * @example
 * ```ts
 * const users = balancer({ instances: ['http://127.0.0.1:3001'] });
 * app.use(status(users));
 * app.use(users);
 * ```
 */
export function status(
  target: Balancer | { readonly balancer: Balancer },
  { path = '/ballast/status' }: { readonly path?: string } = {},
): Middleware {
  const source = isBalancer(target) ? target : target.balancer;
  return async function ballastStatus(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== path || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    ctx.set('cache-control', 'no-store');
    ctx.body = source.snapshot();
  };
}
