import type { IncomingMessage } from 'node:http';
import { BallastError } from '@ballast/core';
import type { Request } from 'express';

/** Whether the request announces a body (RFC 9112 §6.3: Transfer-Encoding or a non-zero Content-Length). */
const hasBody = (req: IncomingMessage) =>
  req.headers['transfer-encoding'] !== undefined ||
  (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

/**
 * The bytes to send upstream for a request whose stream a body parser already read, rebuilt
 * from `req.body` (express.json, .urlencoded, .text, .raw), with `Content-Encoding` dropped:
 * the parser has already decoded it. Throws `BALLAST_BODY_CONSUMED` when the body cannot be rebuilt, rather than hang.
 */
export function parsedBody(req: Request): Buffer {
  const body: unknown = req.body;
  let bytes: Buffer | undefined;
  if (!hasBody(req)) bytes = Buffer.alloc(0);
  else if (Buffer.isBuffer(body)) bytes = body;
  else if (typeof body === 'string') {
    bytes = Buffer.from(body);
    // express.text() decoded the bytes from their charset; they go upstream as UTF-8.
    const type = req.headers['content-type'];
    if (type !== undefined && !/;\s*charset\s*=\s*"?utf-?8"?\s*(;|$)/i.test(type))
      req.headers['content-type'] = type.replace(/;\s*charset\s*=\s*("[^"]*"|[^;]*)/i, '; charset=utf-8');
  } else if (body !== undefined && req.is(['json', '+json'])) bytes = Buffer.from(JSON.stringify(body));
  else if (isFlatForm(body) && req.is('urlencoded')) {
    const form = new URLSearchParams();
    for (const [key, value] of Object.entries(body)) {
      for (const item of typeof value === 'string' ? [value] : value) form.append(key, item);
    }
    bytes = Buffer.from(form.toString());
  }
  if (bytes === undefined) {
    throw new BallastError(
      'BALLAST_BODY_CONSUMED',
      `Cannot proxy ${req.method} ${req.originalUrl}: a middleware before balancer() read the request ` +
        `body (${req.headers['content-type'] ?? 'no content type'}) and left no req.body that can be ` +
        're-sent. Mount balancer() before body parsers, or parse JSON, urlencoded, text or raw bodies only.',
    );
  }
  // The proxy sends the length of the bytes given; the parser has already decoded them.
  delete req.headers['content-encoding'];
  return bytes;
}

/** A urlencoded body as `extended: false` parses it: string values or lists of strings. */
function isFlatForm(body: unknown): body is Record<string, string | string[]> {
  return (
    typeof body === 'object' &&
    body !== null &&
    Object.values(body).every(
      (value) =>
        typeof value === 'string' ||
        (Array.isArray(value) && value.every((item) => typeof item === 'string')),
    )
  );
}
