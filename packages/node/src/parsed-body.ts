import type { IncomingMessage } from 'node:http';
import { hasBody } from './headers';

/**
 * The bytes to send upstream for a request whose stream a body parser already read, rebuilt from
 * what the parser left, or undefined when that cannot be done faithfully (the adapter then
 * refuses the request with `BALLAST_BODY_CONSUMED`, naming its own remedy).
 *
 * - `raw`, the client's bytes the application kept (a parser's `verify` hook, Nest's `rawBody`,
 *   @koa/bodyparser's `rawBody` string), is sent as it came;
 * - else `parsed`: a Buffer (a raw parser) as it is; a string (a text parser) as UTF-8; JSON
 *   (`application/json`, `+json`) serialized again; a form (`x-www-form-urlencoded`, flat or
 *   nested as `qs` reads it) encoded again.
 *
 * A parser decoded the client's charset, and a string is re-sent as UTF-8: the `Content-Type`
 * is relabelled `charset=utf-8` where it said otherwise, so the upstream does not read UTF-8 bytes
 * as Latin-1 or UTF-16. `Content-Encoding` is dropped: the parser has already decoded it.
 */
export function parsedBody(req: IncomingMessage, parsed: unknown, raw?: unknown): Buffer | undefined {
  let bytes: Buffer | undefined;
  if (!hasBody(req)) bytes = Buffer.alloc(0);
  else if (Buffer.isBuffer(raw)) bytes = raw;
  else if (typeof raw === 'string') bytes = utf8(req, raw);
  else if (Buffer.isBuffer(parsed)) bytes = parsed;
  else if (typeof parsed === 'string') bytes = utf8(req, parsed);
  else {
    const media = mediaType(req);
    if (parsed !== undefined && (media === 'application/json' || media.endsWith('+json'))) {
      bytes = Buffer.from(JSON.stringify(parsed));
      // JSON without a charset is UTF-8 already (RFC 8259); one with another (UTF-16) is not.
      labelUtf8(req, false);
    } else if (
      media === 'application/x-www-form-urlencoded' &&
      typeof parsed === 'object' &&
      parsed !== null
    ) {
      const form = new URLSearchParams();
      if (appendFields(form, parsed)) {
        bytes = Buffer.from(form.toString());
        // The parser decoded an ISO-8859-1 form; URLSearchParams percent-encodes UTF-8 bytes.
        labelUtf8(req, false);
      }
    }
  }
  if (bytes !== undefined) delete req.headers['content-encoding'];
  return bytes;
}

/**
 * A decoded string as the UTF-8 bytes it goes out as, labelled so where the type said another
 * charset, and for `text/*`, which has no UTF-8 default, where it said none.
 */
function utf8(req: IncomingMessage, text: string): Buffer {
  labelUtf8(req, mediaType(req).startsWith('text/'));
  return Buffer.from(text);
}

const mediaType = (req: IncomingMessage): string =>
  (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();

const CHARSET = /;\s*charset\s*=\s*("[^"]*"|[^;]*)/i;
const UTF8 = /^"?utf-?8"?$/i;

/**
 * Labels a re-sent body UTF-8: a charset parameter that says otherwise is replaced; with
 * `always`, one is added where there is none.
 */
function labelUtf8(req: IncomingMessage, always: boolean): void {
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
 * Appends a form a parser read (with `qs` in Express's, Nest's and Koa's parsers, or
 * `querystring`) as fields that parse back to it, in either of `qs`'s modes (`extended: false`
 * parses at depth 0, so only its values are lists):
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
