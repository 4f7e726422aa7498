import { createStatusHandler, type StatusOptions, type StatusTarget } from '@ballast/node';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** The handler `status()` returns: an Express handler with `close()` to detach it from the balancers. */
export type StatusMiddleware = RequestHandler & {
  /** Detaches the page from the balancers; later requests get 503. */
  close(): void;
};

/**
 * The live status page of one or more balancers, for `app.use(path, status(...))`: the page at
 * the mount path and its data at `<path>/snapshot.json`, both relative to where it is mounted
 * (Express strips the mount path from `req.url`). Every other path under the mount answers 404,
 * every other method 405; with `token`, requests without it get 401. `targets` are balancers or
 * middleware from `balancer()`. See `createStatusHandler` in `@ballast/node` for the options.
 *
 * @example
 * ```ts
 * const users = balancer({ service: 'users', instances: ['http://127.0.0.1:3001'] });
 * app.use('/ballast', status(users, { token: process.env.STATUS_TOKEN }));
 * app.use('/users', users);
 * // open http://localhost:3000/ballast/?token=...
 * ```
 */
export function status(
  targets: StatusTarget | readonly StatusTarget[],
  options?: StatusOptions,
): StatusMiddleware {
  const handler = createStatusHandler(targets, options);
  const middleware = function ballastStatus(req: Request, res: Response, next: NextFunction): void {
    handler(req, res, next);
  };
  return Object.assign(middleware, { close: handler.close });
}
