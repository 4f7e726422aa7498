import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { InvalidConfigError, type Balancer, type Logger } from '@ballast/core';
import { boolean, checkKeys, integer, isObject, parseLogger, silent } from './options';
import { ServiceRecorder, type ServiceStatus } from './status-recorder';
import { DATA_CSP, STATUS_PAGE, STATUS_PAGE_CSP } from './status-page';
import { RECENT_SECONDS } from './status-window';
import { isBalancer } from './target';

/** A balancer, or anything that carries one (the middleware of `@ballast/express` or `@ballast/koa`). */
export type StatusTarget = Balancer | { readonly balancer: Balancer };

/** Options of `createStatusHandler`. */
export interface StatusOptions {
  /**
   * When set, every request must carry it: `Authorization: Bearer <token>`, or `?token=<token>`
   * on the URL for a person opening the page. Compared in constant time. Latin-1 characters
   * only, no control characters, no leading or trailing space: what a header can carry. Default: none.
   */
  readonly token?: string;
  /** Show instance metadata on the page and in `snapshot.json`. Default false. */
  readonly exposeMetadata?: boolean;
  /** Seconds of per-second history kept for the charts, 10 to 3600. Default 300. */
  readonly historySeconds?: number;
  /** pino-compatible logger for refused requests and failures. Default: silent. */
  readonly logger?: Logger;
}

/** What `snapshot.json` answers. */
export interface StatusSnapshot {
  /** Wall-clock time of the snapshot, epoch ms. */
  readonly generatedAt: number;
  /** Seconds the live figures (`recent`) span. */
  readonly windowSeconds: number;
  /** Most points in a `series` (one per second, since its instance's window started). */
  readonly historySeconds: number;
  /**
   * The current second on the handler's monotonic clock: the second of every series' last point.
   * A client that asked for a few points (`?points=`) lines them up with what it has by it.
   */
  readonly second: number;
  readonly services: readonly ServiceStatus[];
}

/** A request as the handler needs it; `url` is the path and query relative to the mount. */
export interface StatusRequest {
  readonly method?: string;
  readonly url?: string;
  readonly headers?: IncomingHttpHeaders;
}

/** A complete answer, for adapters that set it on their own response object (Koa's `ctx`). */
export interface StatusAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Empty for HEAD. */
  readonly body: string;
}

/**
 * A `(req, res, next?)` handler for `node:http`, Express or Connect serving the status page at
 * `/` and its data at `/snapshot.json`, relative to `req.url` (so relative to where it is
 * mounted); plus `answer()` for adapters, `snapshot()`, and `close()` to detach it.
 */
export interface StatusHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /** Answers one request without writing anything. */
  answer(req: StatusRequest): StatusAnswer;
  /** The data `snapshot.json` serves; `points` limits each series to its last seconds (default: all). */
  snapshot(points?: number): StatusSnapshot;
  /** Detaches every listener from the balancers; afterwards requests get 503. Idempotent. */
  close(): void;
}

const KEYS = ['token', 'exposeMetadata', 'historySeconds', 'logger'];
const MAX_TOKEN_LENGTH = 4096;
const perf = performance;
/** How often the clock that releases read is refreshed, ms. */
const CLOCK_TICK_MS = 100;

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

function text(status: number, body: string, extra?: Record<string, string>): StatusAnswer {
  return {
    status,
    headers: {
      ...COMMON_HEADERS,
      'content-security-policy': DATA_CSP,
      'content-type': 'text/plain; charset=utf-8',
      ...extra,
    },
    body,
  };
}

function toBalancers(targets: unknown): Balancer[] {
  // Array.from: `map` skips the holes of a sparse array, which then fail later as a TypeError.
  const list = Array.isArray(targets) ? Array.from(targets as unknown[]) : [targets];
  if (list.length === 0) throw new InvalidConfigError('balancers', targets, 'expected at least one balancer');
  const balancers = list.map((target, i) => {
    const balancer = isBalancer(target) ? target : (target as { balancer?: unknown } | null)?.balancer;
    if (!isBalancer(balancer)) {
      const field = Array.isArray(targets) ? `balancers[${i}]` : 'balancers';
      throw new InvalidConfigError(field, target, 'expected a Balancer or a middleware carrying one');
    }
    return balancer;
  });
  const seen = new Set<string>();
  for (const { service } of balancers) {
    if (seen.has(service))
      throw new InvalidConfigError('balancers', service, 'two balancers have this service name');
    seen.add(service);
  }
  return balancers;
}

/** Latin-1 without control characters, not starting or ending with a space. */
const HEADER_TOKEN = /^[\x21-\x7e\x80-\xff](?:[\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?$/;

function parseOptions(options: unknown) {
  const raw: unknown = options ?? {};
  if (!isObject(raw)) throw new InvalidConfigError('status', raw, 'expected an options object');
  checkKeys(raw, KEYS, 'status');
  const token = raw.token;
  // What a header can carry: the page sends the token in one, where a character beyond Latin-1
  // makes the browser's fetch throw, and surrounding spaces are trimmed, so such a token could
  // never match and the page would show "disconnected" for good.
  if (
    token !== undefined &&
    (typeof token !== 'string' || !HEADER_TOKEN.test(token) || token.length > MAX_TOKEN_LENGTH)
  )
    throw new InvalidConfigError(
      'status.token',
      token,
      `expected up to ${MAX_TOKEN_LENGTH} Latin-1 characters, no control characters, no leading or trailing space`,
    );
  return {
    token: token as string | undefined,
    exposeMetadata: boolean(raw.exposeMetadata, 'status.exposeMetadata', false),
    historySeconds: integer(raw.historySeconds, 'status.historySeconds', 300, RECENT_SECONDS, 3600),
    logger: parseLogger(raw.logger, 'status.logger') ?? silent,
  };
}

/** Splits `url` into its path and the `token` and `points` query parameters; never throws. */
function parseUrl(url: string): { path: string; token: string | null; points: number } {
  const query = url.indexOf('?');
  const path = (query < 0 ? url : url.slice(0, query)).split('#', 1)[0]!;
  const params = new URLSearchParams(query < 0 ? '' : url.slice(query + 1));
  // Anything but a positive integer means all of the history.
  const points = /^[1-9][0-9]{0,5}$/.test(params.get('points') ?? '') ? Number(params.get('points')) : 0;
  return { path, token: params.get('token'), points };
}

/**
 * Creates the live status page of one or more balancers: a self-contained HTML page at `/`
 * (inline CSS and script, no CDN: it works offline) that polls `/snapshot.json` every 800 ms and
 * shows each service, its strategy and switch history, and per instance its state, health score,
 * in-flight requests, requests/s, error rate, p50/p99 latency and charts of the last minutes.
 * Only GET and HEAD are served (405 otherwise); other paths get 404. With `token`, a request
 * without it gets 401. Throws `InvalidConfigError` on bad options or targets.
 *
 * The figures come from a rolling window per instance fed by `release` events (O(1) each,
 * bounded memory); `close()` detaches the listeners.
 *
 * @example
 * import http from 'node:http';
 * import { createBalancer } from '@ballast/core';
 * import { createStatusHandler } from '@ballast/node';
 *
 * const users = createBalancer({ service: 'users', instances: ['http://127.0.0.1:3001'] });
 * const status = createStatusHandler(users, { token: process.env.STATUS_TOKEN });
 * http.createServer(status).listen(9090); // open http://127.0.0.1:9090/?token=...
 */
export function createStatusHandler(
  balancerOrBalancers: StatusTarget | readonly StatusTarget[],
  options?: StatusOptions,
): StatusHandler {
  const config = parseOptions(options);
  const balancers = toBalancers(balancerOrBalancers);
  const expected = config.token === undefined ? undefined : digest(config.token);
  // A clock read costs more than the rest of recording a release, so releases read a clock
  // refreshed ten times a second: a release lands in its second give or take 100 ms.
  let coarseMs = perf.now();
  const ticker = setInterval(() => (coarseMs = perf.now()), CLOCK_TICK_MS);
  ticker.unref();
  const now = () => coarseMs;
  const recorders = balancers.map((b) => new ServiceRecorder(b, config.historySeconds, now));
  let closed = false;

  function authorized(headers: IncomingHttpHeaders | undefined, queryToken: string | null): boolean {
    if (expected === undefined) return true;
    const auth = headers?.authorization;
    const bearer = typeof auth === 'string' && /^bearer /i.test(auth) ? auth.slice(7).trim() : null;
    let ok = false;
    // Both candidates are compared, so the time taken says nothing about which one was close.
    for (const candidate of [bearer, queryToken]) {
      if (candidate !== null && timingSafeEqual(digest(candidate), expected)) ok = true;
    }
    return ok;
  }

  function snapshot(points = config.historySeconds): StatusSnapshot {
    const nowMs = (coarseMs = perf.now());
    const limit = Number.isInteger(points) && points > 0 ? points : config.historySeconds;
    return {
      generatedAt: Date.now(),
      windowSeconds: RECENT_SECONDS,
      historySeconds: config.historySeconds,
      second: Math.floor(nowMs / 1000),
      services: recorders.map((r) => r.status(config.exposeMetadata, nowMs, limit)),
    };
  }

  function answer(req: StatusRequest): StatusAnswer {
    const reply = answerWithBody(req);
    // Every answer to HEAD, refusals included, is empty: adapters that write `body` as given
    // (not through node:http, which drops it) would otherwise send one.
    return req.method === 'HEAD' && reply.body !== '' ? { ...reply, body: '' } : reply;
  }

  function answerWithBody(req: StatusRequest): StatusAnswer {
    const { path, token, points } = parseUrl(typeof req.url === 'string' ? req.url : '/');
    const method = req.method ?? 'GET';
    if (closed) return text(503, 'Service Unavailable\n');
    if (!authorized(req.headers, token)) {
      config.logger.info({ path, reason: 'missing or wrong token' }, 'ballast: status request refused');
      return text(401, 'Unauthorized\n', { 'www-authenticate': 'Bearer realm="ballast"' });
    }
    const page = path === '' || path === '/';
    if (!page && path !== '/snapshot.json') return text(404, 'Not Found\n');
    if (method !== 'GET' && method !== 'HEAD')
      return text(405, 'Method Not Allowed\n', { allow: 'GET, HEAD' });
    const body = page ? STATUS_PAGE : JSON.stringify(snapshot(points));
    return {
      status: 200,
      headers: {
        ...COMMON_HEADERS,
        'content-security-policy': page ? STATUS_PAGE_CSP : DATA_CSP,
        'content-type': page ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(body)),
      },
      body,
    };
  }

  const handler = function ballastStatus(
    req: IncomingMessage,
    res: ServerResponse,
    next?: (err?: unknown) => void,
  ): void {
    let reply: StatusAnswer;
    try {
      reply = answer(req);
    } catch (error) {
      if (typeof next === 'function') return next(error);
      config.logger.error({ err: error }, 'ballast: status page failure');
      reply = text(500, 'Internal Server Error\n');
    }
    res.writeHead(reply.status, reply.headers);
    res.end(reply.body);
  } as StatusHandler;
  handler.answer = answer;
  handler.snapshot = snapshot;
  handler.close = () => {
    if (closed) return;
    closed = true;
    clearInterval(ticker);
    for (const recorder of recorders) recorder.detach();
  };
  return handler;
}
