import { isIP } from 'node:net';
import { isConnectFailure, type Lease } from '@ballast/core';
import type { AxiosResponse } from 'axios';

// The instance may have acted on the request: only a method that may be repeated is retried.
// ECONNABORTED is axios's timeout (ETIMEDOUT with `transitional.clarifyTimeoutError`);
// UND_ERR_SOCKET is a reset as the fetch adapter's undici reports it (the cause of ERR_NETWORK).
const RESET_OR_TIMEOUT_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
]);
/** RFC 9110 §9.2.2, plus QUERY (which axios 1.21 sends). */
const IDEMPOTENT_METHODS = new Set(['get', 'head', 'options', 'put', 'delete', 'trace', 'query']);

/** What an adapter rejects with, as far as balancing is concerned. */
interface FailedAttempt {
  readonly code?: unknown;
  readonly response?: AxiosResponse;
}

const codeOf = (error: unknown): unknown => (error as FailedAttempt | null)?.code;
const causeOf = (error: unknown): unknown => (error as { cause?: unknown } | null)?.cause;

/** A cancellation by the caller (`signal`, `cancelToken`): it says nothing about the instance. */
export const isCancel = (error: unknown): boolean => codeOf(error) === 'ERR_CANCELED';

/**
 * A failure to connect to the instance, so it never saw the request: the error's own code (the
 * http adapter) or its cause's (the fetch adapter's ERR_NETWORK). A connect failure elsewhere is
 * not one: after a redirect the instance has answered the request, and the refusal came from the
 * redirect's target. Both adapters name the address that refused on the cause; the http
 * adapter's request also counts the redirects it followed.
 */
function neverReachedInstance(error: unknown, instanceUrl: string): boolean {
  const cause = causeOf(error);
  if (!isConnectFailure(error) && !isConnectFailure(cause)) return false;
  const redirects = (error as { request?: { _redirectCount?: unknown } } | null)?.request?._redirectCount;
  if (typeof redirects === 'number' && redirects > 0) return false;
  const refused = cause as { address?: unknown; port?: unknown } | null | undefined;
  return refused == null || refusedByInstance(refused.address, refused.port, instanceUrl);
}

/** Whether a refused `address`:`port` (either may be unknown) can be the instance's. */
function refusedByInstance(address: unknown, port: unknown, instanceUrl: string): boolean {
  const url = new URL(instanceUrl);
  const instancePort = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  if (typeof port === 'number' && port !== instancePort) return false;
  // A host name resolves to addresses this cannot know without a lookup; an IP literal is exact.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return typeof address !== 'string' || !isIP(host) || address === host;
}

/**
 * The status of a response the caller's `validateStatus` refused, or undefined for any other
 * failure. An error can carry a response without being a refusal: the http adapter attaches the
 * response to the error of a body that broke after the headers (the connection reset, or closed
 * early: "stream has been aborted"), and that is the instance failing, whatever its status. axios's
 * `settle` raises the refusal with this message in every 1.x (its code varies with the version).
 */
function refusedStatus(error: unknown): number | undefined {
  const status = (error as FailedAttempt | null)?.response?.status;
  return status !== undefined && REFUSED.test(String((error as Error).message)) ? status : undefined;
}
const REFUSED = /^Request failed with status code \d+$/;
/** The http adapter's error for a response body whose connection closed before its end. */
const BODY_CUT = /^stream has been aborted$/;

/** Whether a failed attempt may be sent again, to another instance. */
export function isRetryable(error: unknown, method: string | undefined, instanceUrl: string): boolean {
  if (neverReachedInstance(error, instanceUrl)) return true;
  if (!IDEMPOTENT_METHODS.has(method?.toLowerCase() ?? 'get')) return false;
  const status = refusedStatus(error);
  if (status !== undefined) return status >= 500;
  return isResetOrTimeout(error) || BODY_CUT.test(String((error as Error | null)?.message));
}

/**
 * A reset or a timeout, by the error's code or its causes': the fetch adapter's reset while the
 * body is read is a `TypeError('terminated')` caused by undici's UND_ERR_SOCKET, two causes deep.
 */
function isResetOrTimeout(error: unknown): boolean {
  for (let depth = 0; depth < 3 && error != null; depth++, error = causeOf(error)) {
    const code = codeOf(error);
    if (typeof code === 'string' && RESET_OR_TIMEOUT_CODES.has(code)) return true;
  }
  return false;
}

/**
 * A body over one of the caller's own limits: a response over `maxContentLength` (the instance
 * answered, the caller refused it), or a request body over `maxBodyLength` (refused before it
 * was sent, or while it was). Neither is the instance's fault. Every adapter of axios 1.x raises
 * them with these codes and messages (and no `response` to tell them by).
 */
const OWN_LIMITS: Readonly<Record<string, RegExp>> = {
  ERR_BAD_RESPONSE: /^maxContentLength size of -?\d+ exceeded$/,
  ERR_BAD_REQUEST: /^Request body larger than maxBodyLength limit$/,
};
const isOverOwnLimit = (error: unknown): boolean => {
  const code = codeOf(error);
  const limit = typeof code === 'string' && Object.hasOwn(OWN_LIMITS, code) ? OWN_LIMITS[code] : undefined;
  return limit !== undefined && limit.test(String((error as Error | null)?.message));
};

/**
 * Releases the lease of an attempt that failed: a cancellation, a 4xx the caller's
 * `validateStatus` refused or a body over the caller's size limit is not the instance's fault; a
 * body that broke after a 2xx to 4xx status is.
 */
export function releaseFailed(lease: Lease, error: unknown, latencyMs: number): void {
  const status = (error as FailedAttempt | null)?.response?.status;
  const refused = refusedStatus(error);
  const ok = isCancel(error) || isOverOwnLimit(error) || (refused !== undefined && refused < 500);
  lease.release(status === undefined ? { ok, latencyMs, error } : { ok, status, latencyMs, error });
}

/** The minimal shape of a Node.js readable stream that `responseType: 'stream'` gives. */
interface BodyStream {
  readonly readableEnded?: boolean;
  readonly destroyed?: boolean;
  readonly errored?: unknown;
  once(event: string, listener: () => void): unknown;
  destroy(): unknown;
}

/** Whether `value` is a Node.js readable stream: a streamed response body, or a request body that cannot be sent twice. */
export const isStream = (value: unknown): value is BodyStream =>
  typeof (value as BodyStream | null)?.once === 'function' &&
  typeof (value as { pipe?: unknown }).pipe === 'function';

/** Whether `value` is a web ReadableStream (the fetch adapter's streamed body, or a request body). */
export const isWebStream = (value: unknown): value is ReadableStream<Uint8Array> =>
  typeof (value as ReadableStream | null)?.getReader === 'function';

/** Whether a request body can be sent only once: a Node.js or a web stream. */
export const isOneShot = (value: unknown): boolean => isStream(value) || isWebStream(value);

/**
 * Releases the lease of an attempt that got a response: at once, or for a streamed body when the
 * stream ends or closes. The latency is the time to the response headers either way; a body the
 * caller closes early counts as a success, one that broke (`errored`) as a failure. No `error`
 * listener is added: an unhandled stream error stays the caller's to see.
 */
export function releaseAnswered(lease: Lease, response: AxiosResponse, latencyMs: number): void {
  const { status } = response;
  const ok = status < 500;
  const body: unknown = response.data;
  if (isWebStream(body)) {
    // The fetch adapter's stream: nothing to listen to without reading it, so the caller reads
    // it through a stream that passes every chunk on and settles the lease at its end.
    response.data = settledAtEnd(body, (error) =>
      lease.release(
        error === undefined
          ? { ok, status, latencyMs }
          : { ok: ok && !brokeBody(error), status, latencyMs, error },
      ),
    );
    return;
  }
  if (!isStream(body) || body.readableEnded === true || body.destroyed === true) {
    const error = isStream(body) ? (body.errored ?? undefined) : undefined;
    lease.release({ ok: ok && !brokeBody(error), status, latencyMs });
    return;
  }
  const settle = () => {
    const error = body.errored ?? undefined;
    lease.release(
      error === undefined
        ? { ok, status, latencyMs }
        : { ok: ok && (!brokeBody(error) || endedByClient(response)), status, latencyMs, error },
    );
  };
  body.once('end', settle);
  body.once('close', settle);
}

/**
 * Whether the client side ended a streamed body's connection, not the instance: a caller's
 * `pipeline` destroys the body (or aborts its request) when its destination fails or closes early
 * (a proxy whose own client went away), and Node.js then records a reset (`ECONNRESET`,
 * "aborted") on the body, as when the instance broke it. When the instance broke it, the
 * connection saw the instance's end (`readableEnded`) or a reset while reading; when the client
 * ended it, neither. The http adapter's `response.request` holds that connection; without one
 * (another adapter), every error counts.
 */
function endedByClient(response: AxiosResponse): boolean {
  const socket = (response.request as { socket?: ConnectionState | null } | null | undefined)?.socket;
  if (socket == null) return false;
  const errored = socket.errored as { syscall?: unknown } | null | undefined;
  return socket.readableEnded !== true && errored?.syscall !== 'read';
}

interface ConnectionState {
  readonly readableEnded?: boolean;
  readonly errored?: unknown;
}

/**
 * Whether a streamed body's error is the instance's failure: not when the caller cancelled the
 * request (`signal`, `cancelToken`: the fetch adapter errors the body with the cancellation), nor
 * when the body went over the caller's `maxContentLength` (both adapters error the body with it).
 */
const brokeBody = (error: unknown): boolean =>
  error !== undefined && !isCancel(error) && !isOverOwnLimit(error);

/**
 * `source`, read through a stream of its own that calls `settle` once: at its end, at its error
 * (with the error), or when the caller cancels it (closing a body early is no failure).
 */
function settledAtEnd(
  source: ReadableStream<Uint8Array>,
  settle: (error: unknown) => void,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let settled = false;
  const once = (error?: unknown): void => {
    if (settled) return;
    settled = true;
    settle(error);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          once();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        once(error);
        controller.error(error);
      }
    },
    cancel(reason) {
      once();
      return reader.cancel(reason);
    },
  });
}
