import { InvalidConfigError } from '@ballast/core';
import { createStatusHandler, type StatusOptions, type StatusTarget } from '@ballast/node';
import type { Context, Middleware, Next } from 'koa';

/** Options of the Koa `status()`: where it answers, plus those of `createStatusHandler`. */
export interface KoaStatusOptions extends StatusOptions {
  /**
   * Path prefix the page answers under, matched against `ctx.path` (which `koa-mount` has
   * already stripped). Default `/ballast`; `/` when mounted with `koa-mount`.
   */
  readonly path?: string;
}

/** The middleware `status()` returns, with `close()` to detach it from the balancers. */
export type StatusMiddleware = Middleware & {
  /** Detaches the page from the balancers; later requests get 503. */
  close(): void;
};

/**
 * The live status page of one or more balancers: the page at `<path>` and its data at
 * `<path>/snapshot.json`, set on `ctx` (status, headers, body) for Koa to send. Requests outside
 * `path` pass on; under it, other paths get 404 and other methods 405; with `token`, requests
 * without it get 401. `targets` are balancers or middleware from `balancer()`. See
 * `createStatusHandler` in `@ballast/node` for the options.
 *
 * @example
 * ```ts
 * const users = balancer({ service: 'users', instances: ['http://127.0.0.1:3001'] });
 * app.use(status(users, { token: process.env.STATUS_TOKEN })); // GET /ballast/?token=...
 * app.use(users);
 * ```
 */
export function status(
  targets: StatusTarget | readonly StatusTarget[],
  koaOptions?: KoaStatusOptions,
): StatusMiddleware {
  // Checked before destructuring: null would throw a TypeError, and a string's characters would
  // be taken for options. Null means none, as it does for `createStatusHandler`.
  const given: unknown = koaOptions ?? {};
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    throw new InvalidConfigError('status', koaOptions, 'expected an options object');
  const { path = '/ballast', ...options } = given as KoaStatusOptions;
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw new InvalidConfigError('status.path', path, "expected a path starting with '/'");
  const prefix = path.replace(/\/+$/, '');
  const handler = createStatusHandler(targets, options);
  const middleware = async function ballastStatus(ctx: Context, next: Next): Promise<void> {
    const inside = prefix === '' || ctx.path === prefix || ctx.path.startsWith(`${prefix}/`);
    if (!inside) return next();
    const relative = ctx.path.slice(prefix.length) || '/';
    const reply = handler.answer({
      method: ctx.method,
      url: ctx.querystring ? `${relative}?${ctx.querystring}` : relative,
      headers: ctx.headers,
    });
    ctx.status = reply.status;
    ctx.body = reply.body;
    // After the body, so Koa's own Content-Type and Content-Length guesses do not win.
    ctx.set(reply.headers);
  };
  return Object.assign(middleware, { close: handler.close });
}
