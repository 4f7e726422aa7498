import { isConnectFailure, type Lease } from '@ballast/core';
import type { AxiosResponse } from 'axios';

// The instance may have acted on the request: only a method that may be repeated is retried.
// ECONNABORTED is axios's timeout (ETIMEDOUT with `transitional.clarifyTimeoutError`).
const RESET_OR_TIMEOUT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT']);
/** RFC 9110 §9.2.2, plus QUERY (which axios 1.21 sends). */
const IDEMPOTENT_METHODS = new Set(['get', 'head', 'options', 'put', 'delete', 'trace', 'query']);

/** What an adapter rejects with, as far as balancing is concerned. */
interface FailedAttempt {
  readonly code?: unknown;
  readonly response?: AxiosResponse;
}

const codeOf = (error: unknown): unknown => (error as FailedAttempt | null)?.code;

/** A cancellation by the caller (`signal`, `cancelToken`): it says nothing about the instance. */
export const isCancel = (error: unknown): boolean => codeOf(error) === 'ERR_CANCELED';

/** Whether a failed attempt may be sent again, to another instance. */
export function isRetryable(error: unknown, method: string | undefined): boolean {
  const code = codeOf(error);
  if (isConnectFailure(error)) return true;
  if (!IDEMPOTENT_METHODS.has(method?.toLowerCase() ?? 'get')) return false;
  const status = (error as FailedAttempt | null)?.response?.status;
  if (status !== undefined) return status >= 500;
  return typeof code === 'string' && RESET_OR_TIMEOUT_CODES.has(code);
}

/** Releases the lease of an attempt that failed: a cancellation or a 4xx is not the instance's fault. */
export function releaseFailed(lease: Lease, error: unknown, latencyMs: number): void {
  const status = (error as FailedAttempt | null)?.response?.status;
  const ok = isCancel(error) || (status !== undefined && status < 500);
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
  if (!isStream(body) || body.readableEnded === true || body.destroyed === true) {
    lease.release({ ok: ok && !isErrored(body), status, latencyMs });
    return;
  }
  const settle = () => {
    const error = body.errored ?? undefined;
    lease.release(error === undefined ? { ok, status, latencyMs } : { ok: false, status, latencyMs, error });
  };
  body.once('end', settle);
  body.once('close', settle);
}

const isErrored = (body: unknown): boolean => isStream(body) && (body.errored ?? undefined) !== undefined;
