import { Readable } from 'node:stream';
import type { Balancer, BalancerOptions } from '@ballast/core';
import { BallastError } from '@ballast/core';
import {
  adapterOptions,
  createProxy,
  type ForwardResponse,
  mergeEarlierHeaders,
  parsedBody,
  ProxyError,
  resolveTarget,
} from '@ballast/node';
import type { Context } from 'koa';

import type { BalancerMiddleware, KoaProxyOptions } from './types';

/**
 * Responses announcing at most this many bytes reach `ctx.body` as a Buffer: Koa's stream path
 * (an extra Readable, a pipeline with its own AbortController) costs more per request than Koa.
 */
const BUFFER_BYTES = 64 * 1024;

/**
 * Fields of which Node's HTTP parser keeps only the first when a message repeats them. undici
 * hands a repeat over as an array (two Content-Type lines, from a framework and the server in
 * front of it), but Koa and its middleware read these as strings: `ctx.type` would throw a
 * TypeError (a 500 from any logger that reads it), `ctx.fresh` and `ctx.lastModified` would be
 * wrong. So each goes on `ctx` as Node would have parsed it; other repeats stay lines of their own.
 */
const SINGLE_FIELDS = new Set([
  'age',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'last-modified',
  'location',
  'retry-after',
  'server',
]);

/**
 * A reverse-proxy middleware that spreads requests over the instances of one upstream service,
 * health-aware (see `@ballast/core`) and with retries, timeouts and `X-Forwarded-*` handling
 * (see `@ballast/node`). It is the end of the chain (it does not call `next`), and Koa-native:
 * the upstream status, headers and body stream are set on `ctx`, so middleware before it
 * (compression, logging, error handling) see and may change them after `await next()`.
 *
 * - `target`: an existing `Balancer`, or `BalancerOptions`. Options without `instances` take
 *   them from `BALLAST_INSTANCES` (comma-separated URLs), and a missing `strategy` from
 *   `BALLAST_STRATEGY`; with neither, it throws `BALLAST_INVALID_CONFIG`.
 * - The upstream path is `ctx.url` (as koa-mount leaves it). A body a body parser already read
 *   is re-sent from `ctx.request.rawBody` (@koa/bodyparser sets it), or rebuilt from
 *   `ctx.request.body`; when neither can be, the request fails with `BALLAST_BODY_CONSUMED`.
 * - Upstream failures set `ctx.status` to 502, 503 (with `Retry-After`) or 504, unless
 *   `onError` takes over (throw the error to hand it to Koa).
 *
 * Call `close()` on shutdown; wire `upgrade` for WebSockets.
 *
 * @example
 * ```ts
 * import Koa from 'koa';
 * import { balancer } from '@ballast/koa';
 *
 * const app = new Koa();
 * const users = balancer({ instances: ['http://127.0.0.1:3001', 'http://127.0.0.1:3002'] });
 * app.use(users);
 * const server = app.listen(3000);
 * server.on('upgrade', users.upgrade);
 * ```
 */
export function balancer(
  target?: Balancer | BalancerOptions,
  proxyOptions?: KoaProxyOptions,
): BalancerMiddleware {
  const { onError, ...options } = adapterOptions(proxyOptions);
  // An upgrade request reaches the proxy without passing through Koa (`server.on('upgrade')`),
  // so it has no app to ask: it gets Koa's default, no proxy trusted.
  const proxy = createProxy(resolveTarget(target), {
    ...options,
    trustForwarded: options.trustForwarded ?? false,
  });
  const trustOption = options.trustForwarded !== undefined;
  // A response held whole is also what bufferResponseBytes asks (createProxy validated it): 0
  // streams every response, as with the plain handler.
  const bufferBytes = Math.min(BUFFER_BYTES, options.bufferResponseBytes ?? BUFFER_BYTES);

  async function ballastProxy(ctx: Context): Promise<void> {
    // The client may have left while earlier middleware ran: then there is nothing to do. forward()
    // would not hear of it (the response's 'close' is past) and wait on a body that never ends.
    if (ctx.res.destroyed || ctx.res.writableEnded) return;
    let upstream: ForwardResponse<Readable | Buffer>;
    try {
      // Given the response, forward() aborts the upstream request if the client goes away.
      upstream = await proxy.forward(ctx.req, {
        body: consumedBody(ctx),
        response: ctx.res,
        bufferBytes,
        // Koa's own trust setting, unless the options gave one: with app.proxy false (its
        // default), a client's X-Forwarded-Host and -Proto are not passed on as if a proxy in
        // front had set them.
        trustForwarded: trustOption ? undefined : ctx.app.proxy,
      });
    } catch (err) {
      if (ctx.res.destroyed && !ctx.res.writableFinished) return; // nobody is left to answer
      if (!(err instanceof ProxyError)) throw err;
      if (onError) return onError(err, ctx);
      ctx.status = err.statusCode;
      if (err.retryAfterSeconds !== undefined) ctx.set('retry-after', String(err.retryAfterSeconds));
      return;
    }
    // Through ctx.response, not the ctx shorthands: those are `delegates` accessors, which cost
    // about as much per request here as the rest of this function. Headers go straight to
    // ctx.res, where Koa keeps them too (ctx.response.headers, ctx.get and ctx.set read and
    // write res), without ctx.set's per-call arrays; undici hands over strings and arrays only.
    // Set-Cookie and Vary are added to what middleware before this one set (a session cookie,
    // @koa/cors's `Vary: Origin`), not replaced: each cookie and each Vary token stands alone.
    const response = ctx.response;
    response.status = upstream.statusCode;
    const res = ctx.res;
    const headers = upstream.headers;
    const rest = mergeEarlierHeaders(res, headers);
    for (const name in rest) {
      const value = rest[name]!;
      res.setHeader(name, typeof value !== 'string' && SINGLE_FIELDS.has(name) ? value[0]! : value);
    }
    const body = upstream.body;
    response.body = body; // a Buffer, or a stream Koa pipes (and destroys if the response ends first)
    if (body instanceof Readable) body.once('error', failedBody(ctx, body));
    // Koa's body setter guesses what the upstream already said: the upstream's Content-Length
    // wins (a HEAD answer's is not its empty body's, a streamed body's is known), and a
    // Content-Type the upstream did not send is not invented. Headers first, so that with a
    // Content-Type present Koa does not guess one at all.
    const length = headers['content-length'];
    if (length !== undefined) res.setHeader('content-length', length);
    if (headers['content-type'] === undefined) res.removeHeader('content-type');
  }

  return Object.assign(ballastProxy, {
    proxy,
    balancer: proxy.balancer,
    upgrade: proxy.upgrade,
    close: () => proxy.close(),
  });
}

/**
 * What to do when the upstream body set on `ctx` fails (the upstream broke mid-body, or it was not
 * read for `idleTimeoutMs`):
 *
 * - Still `ctx.body` and not read yet (a middleware before the proxy is still at work after
 *   `await next()`): Koa 3 only hears of a body's error once it pipes it, and by then it can only
 *   reset the connection. Koa's own error handling is called at once instead, as Koa 2's body
 *   setter does: `app.on('error')` logs it and, nothing having gone out, the client gets a
 *   status (502 for a `ProxyError`; 500 for a body left unread past `idleTimeoutMs`).
 *   Koa 2 (whose setter already listens) is left to do so itself.
 * - Then, the client's connection is closed unless the response was completed: a middleware that
 *   re-encodes the body (koa-compress) pipes it with .pipe(), which passes no error on, and the
 *   client would wait on a response never ended.
 */
function failedBody(ctx: Context, body: Readable): (error: Error) => void {
  const koaListens = body.listenerCount('error') > 0;
  return (error) => {
    if (!koaListens && body.readableFlowing === null && ctx.response.body === body) ctx.onerror(error);
    if (!ctx.res.writableEnded) ctx.res.destroy();
  };
}

/**
 * For a request whose stream a body parser already read: the bytes to re-send, from the raw
 * body it kept (`ctx.request.rawBody`, as @koa/bodyparser keeps it) or rebuilt from
 * `ctx.request.body` (see `parsedBody` in `@ballast/node`). Undefined while the stream is unread.
 */
function consumedBody(ctx: Context): Buffer | undefined {
  const req = ctx.req;
  if (!req.readableEnded) return undefined;
  const request = ctx.request as { body?: unknown; rawBody?: unknown };
  const body = parsedBody(req, request.body, request.rawBody);
  if (body !== undefined) return body;
  throw new BallastError(
    'BALLAST_BODY_CONSUMED',
    `Cannot proxy ${ctx.method} ${ctx.originalUrl}: a middleware before balancer() read the request ` +
      'body and left no ctx.request.rawBody or ctx.request.body that can be re-sent. Mount balancer() ' +
      'before body parsers.',
  );
}
