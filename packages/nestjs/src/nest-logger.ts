import type { Logger } from '@ballast/core';
import { Logger as NestLogger } from '@nestjs/common';

/**
 * A pino-compatible logger that writes to Nest's `Logger` under `context`, so Ballast's lines
 * follow the application's logger (`app.useLogger()`), its levels and its format. pino's
 * `(obj, msg)` becomes Nest's `(msg, obj)`; an `error` or `err` field that is an Error goes to
 * `Logger.error` as its stack. `BallastModule` uses it unless given `logger`.
 *
 * @example
 * ```ts
 * const proxy = createProxy({ instances, logger: nestLogger('Gateway') });
 * ```
 */
export function nestLogger(context = 'Ballast'): Logger {
  const nest = new NestLogger(context);
  return {
    debug: (obj, msg) => nest.debug(msg ?? '', obj),
    info: (obj, msg) => nest.log(msg ?? '', obj),
    warn: (obj, msg) => nest.warn(msg ?? '', obj),
    error(obj, msg) {
      const fields = obj as { error?: unknown; err?: unknown };
      const error = fields.error ?? fields.err;
      if (error instanceof Error) nest.error(msg ?? error.message, obj, error.stack);
      else nest.error(msg ?? '', obj);
    },
  };
}
