import { BallastError } from '@ballast/core';
import { parsedBody as rebuilt } from '@ballast/node';
import type { Request } from 'express';

/**
 * The bytes to send upstream for a request whose stream a body parser already read: the raw
 * bytes if the parser kept them in `req.rawBody` (its `verify` hook, as for webhook signatures),
 * else rebuilt from `req.body` (express.json, .urlencoded, .text, .raw; see `parsedBody` in
 * `@ballast/node`). Throws `BALLAST_BODY_CONSUMED` when the body cannot be rebuilt, rather than
 * hang or send another body.
 */
export function parsedBody(req: Request): Buffer {
  const bytes = rebuilt(req, req.body, (req as { rawBody?: unknown }).rawBody);
  if (bytes !== undefined) return bytes;
  throw new BallastError(
    'BALLAST_BODY_CONSUMED',
    `Cannot proxy ${req.method} ${req.originalUrl}: a middleware before balancer() read the request ` +
      `body (${req.headers['content-type'] ?? 'no content type'}) and left no req.body that can be ` +
      're-sent. Mount balancer() before body parsers, or parse JSON, urlencoded, text or raw bodies only.',
  );
}
