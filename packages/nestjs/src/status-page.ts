import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidConfigError, type Balancer, type Logger } from '@ballast/core';
import { createStatusHandler, type StatusHandler } from '@ballast/node';

import { renamed } from './service-config';
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
  // At the root the page would answer (404) every request of the application, its routes unreached.
  if (prefix === '')
    throw new InvalidConfigError(
      'statusPage.path',
      path,
      "expected a path below the root, such as '/ballast'",
    );
  if (balancers.length === 0)
    throw new InvalidConfigError('statusPage', option, 'the status page needs at least one service');
  let handler: StatusHandler;
  try {
    handler = createStatusHandler(balancers, { logger, ...options });
  } catch (error) {
    // Node names these options `status.*`; here they are written under `statusPage`.
    if (!(error instanceof InvalidConfigError) || !/^status(\.|$)/.test(error.field)) throw error;
    throw renamed(error, error.field.replace(/^status/, 'statusPage'));
  }
  return {
    path: prefix,
    handler,
    middleware(req, res) {
      // Nest hands middleware the full URL, global prefix included (`/api/ballast/...`); the page
      // answers relative to its mount, so everything up to the first `<path>` segment goes.
      const full = req.originalUrl ?? req.url ?? '/';
      const at = mountIndex(full, prefix);
      const relative = at < 0 ? full : full.slice(at + prefix.length);
      const reply = handler.answer({
        method: req.method,
        url: relative === '' || relative.startsWith('?') ? `/${relative}` : relative,
        headers: req.headers,
      });
      res.writeHead(reply.status, reply.headers).end(reply.body);
    },
  };
}

/** Where `prefix` (empty, or starting with `/`) ends a path segment in `url` (before its query), or -1. */
function mountIndex(url: string, prefix: string): number {
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  for (let at = path.indexOf(prefix); at >= 0; at = path.indexOf(prefix, at + 1)) {
    const end = path[at + prefix.length];
    if (end === undefined || end === '/') return at;
  }
  return -1;
}
