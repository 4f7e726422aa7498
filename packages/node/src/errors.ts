import { BallastError } from '@ballast/core';

export { isConnectFailure } from '@ballast/core';

/** The error codes a proxied request can end with, and the status each one answers. */
export type ProxyErrorCode =
  | 'BALLAST_UPSTREAM_ERROR'
  | 'BALLAST_UPSTREAM_TIMEOUT'
  | 'BALLAST_NO_INSTANCE'
  | 'BALLAST_CLIENT_TIMEOUT'
  | 'BALLAST_BAD_REQUEST';

const STATUS: Record<ProxyErrorCode, 400 | 408 | 502 | 503 | 504> = {
  BALLAST_UPSTREAM_ERROR: 502,
  BALLAST_UPSTREAM_TIMEOUT: 504,
  BALLAST_NO_INSTANCE: 503,
  BALLAST_CLIENT_TIMEOUT: 408,
  BALLAST_BAD_REQUEST: 400,
};

/**
 * Why the proxy could not get a response from an upstream: `BALLAST_UPSTREAM_ERROR` (502: refused,
 * reset, a broken response, a throwing hook), `BALLAST_UPSTREAM_TIMEOUT` (504: connect, headers
 * or idle timeout), `BALLAST_NO_INSTANCE` (503: no instance eligible, with `retryAfterSeconds`)
 * `BALLAST_CLIENT_TIMEOUT` (408: `timeoutMs` ran out while the proxy was still waiting for
 * the client's request body, which is not the instance's fault) or `BALLAST_BAD_REQUEST` (400: a
 * request the proxy cannot forward as it came, such as a transfer coding other than chunked).
 * `cause` carries the underlying error; `instance` the id of the last instance tried, if any.
 */
export class ProxyError extends BallastError {
  declare readonly code: ProxyErrorCode;
  readonly statusCode: 400 | 408 | 502 | 503 | 504;
  /** For 503: the `Retry-After` the proxy sends, in seconds. */
  readonly retryAfterSeconds: number | undefined;
  /** Id of the last instance tried, if one was picked. */
  readonly instance: string | undefined;
  /**
   * Headers the answer carries (`Retry-After` for 503), where framework error handlers look for
   * them: Express's final handler and Koa's `ctx.onerror` set `err.headers` on the response.
   */
  readonly headers: Readonly<Record<string, string>> | undefined;

  constructor(
    code: ProxyErrorCode,
    message: string,
    options?: { cause?: unknown; instance?: string; retryAfterSeconds?: number },
  ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProxyError';
    this.statusCode = STATUS[code];
    this.instance = options?.instance;
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.headers =
      this.retryAfterSeconds === undefined ? undefined : { 'Retry-After': String(this.retryAfterSeconds) };
  }
}

/** Seconds a client is asked to wait when no instance is eligible. */
export const RETRY_AFTER_SECONDS = 5;

/** Internal errors that mark why an attempt was abandoned; never shown to clients. */
/** A response the proxy cannot relay as it came: the upstream's fault, a 502. */
export class BadResponseError extends Error {
  readonly code = 'BALLAST_BAD_RESPONSE';
  constructor(message: string) {
    super(message);
    this.name = 'BadResponseError';
  }
}

/** `timeoutMs` ran out while the upload was waiting on the client, not on the upstream. */
export class ClientTimeoutError extends Error {
  readonly code = 'BALLAST_CLIENT_TIMEOUT';
  constructor(ms: number) {
    super(`the client sent its request body too slowly: not all of it within ${ms} ms`);
    this.name = 'ClientTimeoutError';
  }
}

export class AttemptTimeoutError extends Error {
  readonly code = 'BALLAST_ATTEMPT_TIMEOUT';
  constructor(
    readonly phase: 'headers' | 'idle',
    ms: number,
  ) {
    super(phase === 'headers' ? `no response headers within ${ms} ms` : `no body data for ${ms} ms`);
    this.name = 'AttemptTimeoutError';
  }
}

/** The client went away, or the caller's signal aborted: not an upstream failure. */
export class ClientAbortError extends Error {
  readonly code = 'BALLAST_CLIENT_ABORTED';
  constructor(reason?: unknown) {
    super('the client aborted the request', reason === undefined ? undefined : { cause: reason });
    this.name = 'ClientAbortError';
  }
}

/** A user hook threw; the request ends with a 502. */
export class HookError extends Error {
  readonly code = 'BALLAST_HOOK_ERROR';
  constructor(hook: string, cause: unknown) {
    super(`the ${hook} hook threw`, { cause });
    this.name = 'HookError';
  }
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'BALLAST_ATTEMPT_TIMEOUT',
  'ETIMEDOUT',
]);

export function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isTimeout(error: unknown): boolean {
  const code = codeOf(error);
  return code !== undefined && TIMEOUT_CODES.has(code);
}

/** Wraps what ended an exchange into the ProxyError the client is answered with. */
export function toProxyError(error: unknown, instance: string | undefined): ProxyError {
  if (error instanceof ProxyError) return error;
  const ctx = { cause: error, instance };
  if (error instanceof ClientTimeoutError)
    return new ProxyError('BALLAST_CLIENT_TIMEOUT', 'The client sent its request body too slowly', ctx);
  if (isTimeout(error)) return new ProxyError('BALLAST_UPSTREAM_TIMEOUT', 'Upstream timed out', ctx);
  if (error instanceof HookError) return new ProxyError('BALLAST_UPSTREAM_ERROR', error.message, ctx);
  return new ProxyError('BALLAST_UPSTREAM_ERROR', 'Upstream request failed', ctx);
}
