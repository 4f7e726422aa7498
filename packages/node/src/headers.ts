import {
  validateHeaderName,
  validateHeaderValue,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { TLSSocket } from 'node:tls';
import { HookError } from './errors';
import type { ProxyOptions, UpstreamResponse } from './types';

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1, plus the legacy `proxy-connection` and `keep-alive`) belong to
 * one connection and are never forwarded, in either direction. `http2-settings` rides on an
 * upgrade this proxy does not perform.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/**
 * Request headers that are not forwarded: hop-by-hop ones, and `expect`, which Node's server
 * already answered (100 Continue) and undici refuses to send.
 */
const REQUEST_DROP = new Set([...HOP_BY_HOP, 'expect']);

/** Names listed in a `Connection` header beyond the hop-by-hop ones: usually none, so no allocation. */
function connectionTokens(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  // The common values, without a split: `keep-alive`, `close`, `Upgrade`.
  if (typeof value === 'string' && value.length <= 10 && !value.includes(',')) {
    const token = value.trim().toLowerCase();
    if (token === 'keep-alive' || token === 'close' || token === 'upgrade') return undefined;
  }
  let tokens: string[] | undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  for (const raw of text.split(',')) {
    const token = raw.trim().toLowerCase();
    if (token !== '' && token !== 'close' && !HOP_BY_HOP.has(token)) (tokens ??= []).push(token);
  }
  return tokens;
}

/**
 * How `buildRequestHeaders` treats the body: the client's own (its framing headers go along), a
 * replacement of known length, or a replacement stream of unknown length.
 */
export type BodyKind = 'original' | 'sized' | 'stream';

/**
 * The headers to send upstream: the client's, less hop-by-hop ones and those its `Connection`
 * header names, with `X-Forwarded-*` set and `Host` kept (or left to undici with `changeOrigin`).
 */
export function buildRequestHeaders(
  req: IncomingMessage,
  xForwarded: boolean,
  changeOrigin: boolean,
  body: BodyKind,
  bodyLength: number,
  trustForwarded = true,
): Record<string, string | string[]> {
  const source = req.headers;
  const extra = connectionTokens(source.connection);
  const headers: Record<string, string | string[]> = {};
  for (const name in source) {
    const value = source[name];
    if (value === undefined || REQUEST_DROP.has(name)) continue;
    if (extra !== undefined && extra.includes(name)) continue;
    headers[name] = value;
  }
  // An absolute-form target names the host (RFC 9112 §3.2.2): its authority replaces `Host`.
  const url = req.url;
  const host =
    url !== undefined && url.charCodeAt(0) !== 47 ? (absoluteAuthority(url) ?? source.host) : source.host;
  if (host !== source.host && host !== undefined) headers.host = host;
  if (changeOrigin) delete headers.host;
  if (body === 'sized') headers['content-length'] = String(bodyLength);
  else if (body === 'stream') delete headers['content-length'];
  if (xForwarded) {
    // For: this hop appends the address it saw. Proto and Host: the first proxy in a chain saw
    // the client's own, so an existing value is kept.
    const address = req.socket?.remoteAddress;
    const prior = headers['x-forwarded-for'];
    if (address !== undefined) {
      const list = prior === undefined ? '' : Array.isArray(prior) ? prior.join(', ') : prior;
      // An empty header sent by the client is no list to append to.
      headers['x-forwarded-for'] = list.trim() === '' ? address : `${list}, ${address}`;
    }
    // Unless the application does not trust the client's (Koa's `app.proxy` false): then this
    // is the first proxy, and its own values replace whatever the client claimed.
    if (headers['x-forwarded-proto'] === undefined || !trustForwarded)
      headers['x-forwarded-proto'] =
        (req.socket as TLSSocket | undefined)?.encrypted === true ? 'https' : 'http';
    if (!trustForwarded) delete headers['x-forwarded-host'];
    if (headers['x-forwarded-host'] === undefined && host !== undefined) headers['x-forwarded-host'] = host;
  }
  return headers;
}

/**
 * The upstream response headers less hop-by-hop ones. A copy: deleting keys from undici's object
 * would turn it into a slow dictionary just before Node iterates it to write the head.
 */
export function stripResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const extra = connectionTokens(headers.connection);
  const kept: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    if (extra !== undefined && extra.includes(name)) continue;
    kept[name] = value;
  }
  return kept;
}

/**
 * Runs the `onProxyResponse` hook, then checks that what it left can still be written: a status
 * in 100–999 and headers Node accepts (token names, no CR, LF or NUL in values). An edit that
 * fails is the hook's fault, as a throw is, so it is returned as a `HookError` (a 502 that the
 * lease does not hold against the instance), not left to fail the write as if the upstream had.
 * On an upgrade the head goes onto the raw socket, where nothing else would stop a CRLF from
 * splitting the response. Only responses with a hook pay for the check.
 */
export function runResponseHook(
  hook: NonNullable<ProxyOptions['onProxyResponse']>,
  response: UpstreamResponse,
  req: IncomingMessage,
  /** The least status that may go out: 200 for a response (a 1xx is never final), 101 for an upgrade. */
  minStatus: number,
): HookError | undefined {
  try {
    hook(response, req);
    checkWritable(response, minStatus);
  } catch (error) {
    return new HookError('onProxyResponse', error);
  }
  return undefined;
}

function checkWritable({ statusCode, headers }: UpstreamResponse, minStatus: number): void {
  if (!Number.isInteger(statusCode) || statusCode < minStatus || statusCode > 999) {
    throw new RangeError(`statusCode must be an integer from ${minStatus} to 999, got ${String(statusCode)}`);
  }
  for (const name in headers) {
    validateHeaderName(name);
    // Whatever the hook stored: Node's check refuses undefined as the write would.
    const value: unknown = headers[name];
    if (Array.isArray(value)) for (const item of value) validateHeaderValue(name, item as string);
    else validateHeaderValue(name, value as string);
  }
}

/** Response headers that add to what middleware before the proxy set, rather than replace it. */
const ADDITIVE = ['set-cookie', 'vary'] as const;

/**
 * The upstream's response headers, to write on `res`, keeping what middleware before the proxy
 * already set of `Set-Cookie` and `Vary`: every cookie goes out (a session cookie beside the
 * upstream's), and Vary lists each field name once (cors's `Vary: Origin` beside the upstream's
 * `Accept-Encoding`; `*` stands for all), as NGINX's `add_header` adds beside the upstream's.
 * Replacing them would drop the cookie, and a cache keyed on the upstream's Vary alone would serve
 * one origin's CORS answer to another. A merged header is set on `res` and left out of the
 * result, so `writeHead` does not overwrite it. Every other header is the upstream's.
 */
export function mergeEarlierHeaders(
  res: ServerResponse,
  headers: Record<string, string | string[]>,
): Record<string, string | string[]> {
  let rest = headers;
  for (const name of ADDITIVE) {
    const value = headers[name];
    if (value === undefined) continue;
    const before = res.getHeader(name);
    if (before === undefined) continue;
    const values = [before, value].flat().map(String);
    res.setHeader(name, name === 'vary' ? varyUnion(values) : values);
    if (rest === headers) rest = { ...headers };
    delete rest[name];
  }
  return rest;
}

/** One Vary value naming each field of `values` once, in first-seen order; `*` if any is `*`. */
function varyUnion(values: readonly string[]): string {
  const fields = new Map<string, string>();
  for (const item of values) {
    for (const field of item.split(',')) {
      const name = field.trim();
      if (name === '*') return '*';
      if (name !== '' && !fields.has(name.toLowerCase())) fields.set(name.toLowerCase(), name);
    }
  }
  return [...fields.values()].join(', ');
}

/** Whether the client's request carries a body (RFC 9112 §6.3: a length or a transfer coding). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** `scheme://` at the start of an absolute-form request target (RFC 3986 §3.1). */
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** Where the authority of an absolute-form target ends: at its path or its query. */
function authorityEnd(url: string, start: number): number {
  let end = start;
  while (end < url.length && url.charCodeAt(end) !== 47 /* / */ && url.charCodeAt(end) !== 63 /* ? */)
    end += 1;
  return end;
}

/**
 * The host (and port) of an absolute-form request target (`http://host:8080/p` gives
 * `host:8080`, without user info); undefined for any other form.
 */
export function absoluteAuthority(url: string): string | undefined {
  const match = SCHEME.exec(url);
  if (match === null) return undefined;
  const start = match[0].length;
  const authority = url.slice(start, authorityEnd(url, start));
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  return host === '' ? undefined : host;
}

/**
 * A request target as a path that starts with `/`: the origin dropped from an absolute-form one
 * (its query kept: `http://host?q=1` gives `/?q=1`), a `/` put before anything else (`*`, or
 * what a rewrite left: `?q=http://x/y` gives `/?q=http://x/y`).
 */
export function originForm(url: string): string {
  const match = SCHEME.exec(url);
  if (match === null) return `/${url}`;
  const end = authorityEnd(url, match[0].length);
  return url.charCodeAt(end) === 47 ? url.slice(end) : `/${url.slice(end)}`;
}

/**
 * The path and query to send upstream: `req.url` (its origin dropped if absolute-form), rewritten,
 * under the instance's base path.
 */
export function upstreamPath(url: string | undefined, base: string): string {
  let path = url ?? '/';
  if (path.charCodeAt(0) !== 47 /* / */) path = originForm(path);
  return base === '' ? path : base + path;
}

const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/**
 * Reads an ORCA `endpoint-load-metrics` header in its TEXT form (`TEXT cpu_utilization=0.3,
 * mem_utilization=0.5`) and returns `cpu_utilization` if it is a number in [0, 1]; anything else
 * (another format, a missing, malformed, negative or larger value) gives `undefined`.
 *
 * @example
 * parseLoadHeader('TEXT cpu_utilization=0.3, rps_fractional=10'); // 0.3
 */
export function parseLoadHeader(value: string | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (!text.startsWith('TEXT ') && !text.startsWith('TEXT\t')) return undefined;
  for (const part of text.slice(5).split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== 'cpu_utilization') continue;
    const raw = part.slice(eq + 1).trim();
    if (!DECIMAL.test(raw)) return undefined;
    const load = Number(raw);
    return load >= 0 && load <= 1 ? load : undefined;
  }
  return undefined;
}

/** The ORCA load a response's headers report (`endpoint-load-metrics`, the first if repeated). */
export function loadOfResponse(headers: IncomingHttpHeaders): number | undefined {
  const metrics = headers['endpoint-load-metrics'];
  return metrics === undefined ? undefined : parseLoadHeader(Array.isArray(metrics) ? metrics[0] : metrics);
}
