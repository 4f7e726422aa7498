import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidConfigError, type Balancer, type Logger } from '@ballast/core';
import { createStatusHandler, type StatusHandler } from '@ballast/node';

import type { StatusPageOptions } from './types';

/** The status page of the module's balancers, mounted under `path` by `BallastModule`. */
export interface MountedStatusPage {
  /** Without trailing slash, e.g. `/ballast`. */
  readonly path: string;
  readonly handler: StatusHandler;
  /** Nest functional middleware answering every request under `path`. */
  readonly middleware: (req: IncomingMessage & { originalUrl?: string }, res: ServerResponse) => void;
}

/** Checks the `statusPage` module option and builds the page (undefined when it is absent or false). */
export function mountStatusPage(
  option: unknown,
  balancers: readonly Balancer[],
  logger: Logger,
): MountedStatusPage | undefined {
  if (option === undefined || option === false) return undefined;
  const given = option === true ? {} : option;
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    throw new InvalidConfigError(
      'statusPage',
      option,
      'expected true, false or { path?, token?, exposeMetadata? }',
    );
  const { path = '/ballast', ...options } = given as StatusPageOptions;
  if (typeof path !== 'string' || !/^\/[\w./-]*$/.test(path))
    throw new InvalidConfigError('statusPage.path', path, "expected a path such as '/ballast'");
  const prefix = path.replace(/\/+$/, '');
  const handler = createStatusHandler(balancers, { logger, ...options });
  return {
    path: prefix,
    handler,
    middleware(req, res) {
      // Nest hands middleware the full URL; the page answers relative to its mount.
      const full = req.originalUrl ?? req.url ?? '/';
      const relative = full.startsWith(prefix) ? full.slice(prefix.length) : full;
      const reply = handler.answer({
        method: req.method,
        url: relative === '' || relative.startsWith('?') ? `/${relative}` : relative,
        headers: req.headers,
      });
      res.writeHead(reply.status, reply.headers).end(reply.body);
    },
  };
}
