import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { Balancer, Logger } from '@ballast/core';
import type { ProxyError } from './errors';

/** The upstream request as the `onProxyRequest` hook sees it; every field may be changed. */
export interface UpstreamRequest {
  method: string;
  /** Path and query sent upstream, after `pathRewrite`; an instance URL's base path is prefixed to it. */
  path: string;
  /** Lower-case names; hop-by-hop headers already removed, `X-Forwarded-*` already set. */
  headers: Record<string, string | string[]>;
}

/**
 * The upstream response as the `onProxyResponse` hook sees it; headers (and the status the
 * client gets) may be changed. The lease records the upstream's own status.
 */
export interface UpstreamResponse {
  statusCode: number;
  /** Lower-case names; hop-by-hop headers already removed. */
  headers: Record<string, string | string[]>;
}

/** Active health checks: one probe per instance every `intervalMs`, with jitter. */
export interface HealthCheckOptions {
  /** Path probed with a GET. Default `/health`. */
  readonly path?: string;
  /** Time between probes of one instance, ms. Default 10 000 (each one jittered by ±10 %). */
  readonly intervalMs?: number;
  /** A probe without a response in this time fails, ms. Default 2 000. */
  readonly timeoutMs?: number;
  /** Consecutive passed probes that bring a failing instance back. Default 2. */
  readonly healthyThreshold?: number;
  /** Consecutive failed probes that take an instance out. Default 3. */
  readonly unhealthyThreshold?: number;
  /** Statuses that pass. Default: 200 to 399. */
  readonly expectStatus?: number | readonly number[] | ((status: number) => boolean);
}

/** Options of `createProxy`; every one is optional. */
export interface ProxyOptions {
  /** Further attempts on other instances after a failed one. Default 1. */
  readonly retries?: number;
  /**
   * Methods retried once the upstream may have received the request (a failure before any
   * request byte was written is retried for every method). Default GET, HEAD, OPTIONS, PUT, DELETE.
   */
  readonly retryMethods?: readonly string[];
  /** A request body is replayed on a retry only if it fits in this many bytes. Default 65 536. */
  readonly replayBufferBytes?: number;
  /**
   * A response that announces a `Content-Length` of at most this many bytes is held until
   * complete before it goes to the client, so that an upstream failing in the middle of the body
   * is retried on another instance (when the request may be retried) or answered 502/504, never
   * with a truncated response. Default 65 536; 0 streams every response as it comes.
   */
  readonly bufferResponseBytes?: number;
  /**
   * Caps retries (beyond those of requests the upstream never saw) at `ratio` of requests over
   * the last 10 s, plus a reserve of `minRetriesPerSecond`. Default `{ ratio: 0.2,
   * minRetriesPerSecond: 10 }`; `false` disables the budget.
   */
  readonly retryBudget?: { readonly ratio?: number; readonly minRetriesPerSecond?: number } | false;
  /** Time to open a connection to an instance, ms. Default 5 000. */
  readonly connectTimeoutMs?: number;
  /** Per attempt: time from sending the request until the response headers, ms. Default 30 000. */
  readonly timeoutMs?: number;
  /** Longest pause between two chunks of the response body, ms. Default 60 000. */
  readonly idleTimeoutMs?: number;
  /** Most sockets open to one instance (keep-alive pool). Default 128. */
  readonly connections?: number;
  /**
   * Connections in a row an instance may close without notice right after a response (within
   * 1 s, with no `Connection: close`) before the proxy ejects it: each such close races the next
   * request on the connection. Default 5; `false` does not watch connections.
   */
  readonly earlyCloseLimit?: number | false;
  /** Set `X-Forwarded-For`, `-Proto` and `-Host`. Default true. */
  readonly xForwarded?: boolean;
  /**
   * Whether a client's own `X-Forwarded-Proto` and `X-Forwarded-Host` may stand: true (the
   * default) when a proxy in front of this one sets them; false to replace them with what this
   * hop saw, so a client cannot tell the upstream another scheme or host; or a function of the
   * request. The Express and Koa adapters default to their framework's own setting (`trust
   * proxy`, `app.proxy`). `X-Forwarded-For` is appended to either way.
   */
  readonly trustForwarded?: boolean | ((req: IncomingMessage) => boolean);
  /** Send the instance's host as `Host` instead of the client's. Default false. */
  readonly changeOrigin?: boolean;
  /**
   * Rewrites the path (with query) before it goes upstream: a function, or an object of
   * regular-expression source to replacement where the first matching entry applies, as in
   * http-proxy-middleware (`{ '^/api': '' }`).
   */
  readonly pathRewrite?: ((path: string, req: IncomingMessage) => string) | Readonly<Record<string, string>>;
  /** Affinity key for `consistent-hash` (user id, session id...). */
  readonly key?: (req: IncomingMessage) => string | undefined;
  /** Edits the upstream request; may mutate it. A throwing hook ends the request with a 502. */
  readonly onProxyRequest?: (upstream: UpstreamRequest, req: IncomingMessage) => void;
  /**
   * Edits the upstream response headers (and status); a throwing hook, or one that leaves a value
   * Node cannot write (CR, LF, a status outside 100–999), ends the request with a 502.
   */
  readonly onProxyResponse?: (upstream: UpstreamResponse, req: IncomingMessage) => void;
  /**
   * Answers a failed request instead of the proxy's short plain-text 502, 503 or 504. It may be
   * async; one that throws or rejects is logged, and the default answer goes out if it can.
   */
  readonly onError?: (err: ProxyError, req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
  /** Active health checks, or `false` (the default). */
  readonly healthCheck?: HealthCheckOptions | false;
  /** pino-compatible logger; per-request lines only at debug. Default: silent. */
  readonly logger?: Logger;
}

/** What `forward()` resolves with: the upstream response, headers filtered and hooks applied. */
export interface ForwardResponse<Body = Readable> {
  statusCode: number;
  headers: Record<string, string | string[]>;
  /**
   * The upstream body: a stream, whose end, error or destruction releases the lease; or, with
   * `bufferBytes`, a small body already read whole (the lease already released).
   */
  body: Body;
}

/** Options of one `forward()` call. */
export interface ForwardOptions {
  /** Body to send instead of reading `req` (for a body a body parser already consumed). */
  readonly body?: Buffer | string | Readable;
  /** Aborts the upstream request (before headers: rejects; after: destroys `body`). */
  readonly signal?: AbortSignal;
  /**
   * The client's response: if it closes before it finished (the client went away), the upstream
   * request is aborted as with `signal`. Cheaper than an AbortController per request.
   */
  readonly response?: ServerResponse;
  /**
   * Resolve with the whole body as a Buffer when the upstream announces a `Content-Length` of at
   * most this many bytes (default 0: always a stream). A failure before the body is complete
   * then rejects, so it can still be answered with a 502.
   */
  readonly bufferBytes?: number;
  /**
   * Whether the client's own `X-Forwarded-Proto` and `X-Forwarded-Host` may stand, for this
   * request (default: the proxy's `trustForwarded` option). False when the application does
   * not trust a proxy in front (Koa's `app.proxy`, the default): this hop's own values replace
   * them, so a client cannot tell the upstream another host or scheme.
   */
  readonly trustForwarded?: boolean;
}

/**
 * The proxy: a `(req, res, next?)` request handler for `node:http`, Express or Connect, with
 * the lower layers that adapters build on.
 */
export interface ProxyHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /** The balancer the proxy picks from. */
  readonly balancer: Balancer;
  /** Balances an HTTP upgrade (WebSocket); bound, so `server.on('upgrade', proxy.upgrade)` works. */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /**
   * Lower layer for adapters that write the response themselves (Koa): resolves once upstream
   * response headers arrive (after retries); the lease is released when `body` ends or errors.
   * Rejects with `ProxyError`.
   */
  forward(req: IncomingMessage, options?: ForwardOptions & { bufferBytes?: 0 }): Promise<ForwardResponse>;
  forward(req: IncomingMessage, options: ForwardOptions): Promise<ForwardResponse<Readable | Buffer>>;
  /**
   * The handler for a request whose stream a body parser already read: sends `body` (see
   * `parsedBody`) in its place, with its own `Content-Length`, and answers exactly as the handler
   * does (retries, timeouts, hooks, `onError`). A body that is not a Buffer or a string is an
   * `InvalidConfigError`, passed to `next` when given.
   */
  withBody(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer | string,
    next?: (err?: unknown) => void,
  ): void;
  /** Writes a ProxyError as the proxy would (status, Retry-After, short plain body). */
  respondError(err: ProxyError, res: ServerResponse): void;
  /**
   * Answers a ProxyError as the handler does: through `onError` if given (one that throws or
   * rejects is logged, then `respondError`), else `respondError`. For adapters that catch a
   * failure on a path of their own.
   */
  answerError(err: ProxyError, req: IncomingMessage, res: ServerResponse): void;
  /**
   * Stops health checks and closes the connection pools (waiting for requests in flight), then
   * ends open upgrade tunnels (their leases released); closes the balancer only if `createProxy`
   * created it. Idempotent.
   */
  close(): Promise<void>;
}
