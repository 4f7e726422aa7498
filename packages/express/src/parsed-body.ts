import type { IncomingMessage } from 'node:http';
import { BallastError } from '@ballast/core';
import type { Request } from 'express';

/** Whether the request announces a body (RFC 9112 §6.3: Transfer-Encoding or a non-zero Content-Length). */
const hasBody = (req: IncomingMessage) =>
  req.headers['transfer-encoding'] !== undefined ||
  (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

/**
 * The bytes to send upstream for a request whose stream a body parser already read: the raw
 * bytes if the parser kept them in `req.rawBody`, else rebuilt from `req.body` (express.json,
 * .urlencoded, .text, .raw), with `Content-Encoding` dropped:
 * the parser has already decoded it. Throws `BALLAST_BODY_CONSUMED` when the body cannot be rebuilt, rather than hang.
 */
export function parsedBody(req: Request): Buffer {
  const body: unknown = req.body;
  // Kept by the parser's `verify` hook (`req.rawBody = buf`, as for webhook signatures): the
  // client's bytes, decompressed but in their own charset, so re-sent exactly as they came.
  const raw: unknown = (req as { rawBody?: unknown }).rawBody;
  let bytes: Buffer | undefined;
  if (!hasBody(req)) bytes = Buffer.alloc(0);
  else if (Buffer.isBuffer(raw)) bytes = raw;
  else if (Buffer.isBuffer(body)) bytes = body;
  else if (typeof body === 'string') {
    bytes = Buffer.from(body);
    // Text has no UTF-8 default (express.text() may have used its defaultCharset): say it.
    labelUtf8(req, true);
  } else if (body !== undefined && req.is(['json', '+json'])) {
    bytes = Buffer.from(JSON.stringify(body));
    // JSON without a charset is UTF-8 already (RFC 8259); one with another (UTF-16) is not.
    labelUtf8(req, false);
  } else if (typeof body === 'object' && body !== null && req.is('urlencoded')) {
    const form = new URLSearchParams();
    if (appendFields(form, body)) {
      bytes = Buffer.from(form.toString());
      // The parser decoded an ISO-8859-1 form; URLSearchParams percent-encodes UTF-8 bytes.
      labelUtf8(req, false);
    }
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

const CHARSET = /;\s*charset\s*=\s*("[^"]*"|[^;]*)/i;
const UTF8 = /^"?utf-?8"?$/i;

/**
 * Labels a re-sent body UTF-8: the parser decoded the client's bytes from their charset, and
 * `Buffer.from` encodes the string as UTF-8. A charset parameter that says otherwise is replaced;
 * with `always`, one is added where there is none.
 */
function labelUtf8(req: Request, always: boolean): void {
  const type = req.headers['content-type'];
  if (type === undefined) return;
  const charset = CHARSET.exec(type)?.[1]?.trim();
  if (charset === undefined) {
    if (always) req.headers['content-type'] = `${type}; charset=utf-8`;
  } else if (!UTF8.test(charset)) {
    req.headers['content-type'] = type.replace(CHARSET, '; charset=utf-8');
  }
}

/**
 * Appends a body parsed by `express.urlencoded()` as fields that parse back to it, in either mode
 * (both parse with `qs`; `extended: false` at depth 0, so only its values are lists):
 * - a string is `key=value`;
 * - a list of two or more strings repeats the key (`b=x&b=y`), which both modes read as a list,
 *   as the client may have sent it; a one-item list can only come from `extended: true`, which
 *   reads `a[]=1` as one, so it is sent so;
 * - a nested object is `user[name]=Ann`, and a list holding objects is indexed, `rows[0][id]=7`.
 * Returns false for a value no form parser produces (a number, null), which cannot be rebuilt.
 */
function appendFields(form: URLSearchParams, fields: object, prefix?: string): boolean {
  for (const [name, value] of Object.entries(fields)) {
    const key = prefix === undefined ? name : `${prefix}[${name}]`;
    if (typeof value === 'string') form.append(key, value);
    else if (Array.isArray(value) && value.every((item) => typeof item === 'string')) {
      for (const item of value) form.append(value.length === 1 ? `${key}[]` : key, item);
    } else if (typeof value !== 'object' || value === null || !appendFields(form, value, key)) {
      return false;
    }
  }
  return true;
}
