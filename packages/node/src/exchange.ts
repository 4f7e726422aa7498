import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { Lease } from '@ballast/core';
import { Attempt, hasNoBody, Phase, type AttemptOwner, type Engine } from './attempt';
import {
  BadResponseError,
  ClientAbortError,
  ClientTimeoutError,
  codeOf,
  HookError,
  isConnectFailure,
  ProxyError,
  RETRY_AFTER_SECONDS,
  toProxyError,
} from './errors';
import { loadOfResponse, runResponseHook, stripResponseHeaders, upstreamPath } from './headers';
import { prepareRequest } from './prepare';
import { BufferedBody, dispatchBody, RequestBody } from './request-body';
import type { UpstreamRequest, UpstreamResponse } from './types';

/**
 * undici's refusals of the request itself (an invalid header, method or path, as a hook or a
 * rewrite may leave it; a body that does not match its length): not the instance's fault.
 */
const REQUEST_FAULTS = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
]);

/** Errors no other instance would answer differently: bad input, our own hooks, a closing pool. */
const FINAL_CODES = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_DESTROYED',
  'UND_ERR_CLOSED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'BALLAST_HOOK_ERROR',
  'BALLAST_CLIENT_ABORTED',
  'BALLAST_CLIENT_TIMEOUT',
]);

/**
 * One proxied request from start to end: picks an instance, runs attempts, retries on another
 * instance when that is safe and allowed, and hands the response (or the final error) to the
 * subclass that writes it, to a `ServerResponse` or as a `forward()` result.
 *
 * Retry rules: a failure before any byte was written (refused, connect timeout, no socket in
 * time) is retried for every method; after that, a reset, a timeout or a 502/503/504 is retried
 * only for `retryMethods`, within the retry budget, and only if the request body can be replayed.
 */
export abstract class Exchange implements AttemptOwner {
  protected attempt: Attempt | undefined;
  protected aborted: Error | undefined;
  protected over = false;
  private upstream: UpstreamRequest | undefined;
  private requestBody: RequestBody | BufferedBody | Buffer | readonly Buffer[] | string | undefined;
  private tried: string[] | undefined;
  private retriesLeft: number;
  private idempotent = false;
  private key: string | undefined;
  private pickError: unknown;
  /** Bounds the read of a body buffered before the first attempt (see `start`). */
  private bodyTimer: NodeJS.Timeout | undefined;
  /** Runs while the receiver (client or caller) is full and the upstream body is paused. */
  private stallTimer: NodeJS.Timeout | undefined;
  /** The protocol an upgrade exchange asks for (`websocket`). */
  protected upgrade: string | undefined;
  /**
   * A small response held back until it is complete (see `bufferResponseBytes`): nothing reached
   * the client yet, so a failure mid-body is retried, or answered with a status.
   */
  private held: UpstreamResponse | undefined;
  private heldMessage: string | undefined;
  private heldChunks: Buffer[] | undefined;

  constructor(
    protected readonly engine: Engine,
    protected readonly req: IncomingMessage,
    private readonly bodyOption: Buffer | string | Readable | undefined,
    /** Whether the client's X-Forwarded-Proto and -Host may stand (see `ForwardOptions`). */
    private readonly trustForwarded: boolean | undefined = undefined,
  ) {
    this.retriesLeft = engine.config.retries;
  }

  /** Writes the response head; the body follows through `write`/`end`. */
  protected abstract deliver(
    attempt: Attempt,
    response: UpstreamResponse,
    statusMessage: string | undefined,
  ): void;
  protected abstract write(attempt: Attempt, chunk: Buffer): void;
  protected abstract end(attempt: Attempt): void;
  /** The upstream failed after the response head was delivered. */
  protected abstract broken(attempt: Attempt, error: Error): void;
  /** No response: answer the error (already logged by `giveUp`). */
  protected abstract fail(error: ProxyError): void;
  /** The client went away (or the caller's signal aborted) before a response was delivered. */
  protected abstract cancelled(reason: Error): void;

  /**
   * The request gets no upstream response: one debug line (every kind of exchange logs the same
   * way, so a 502/503/504 is never silent, whoever answers it), then the exchange's answer.
   */
  private giveUp(error: ProxyError): void {
    this.engine.logger.debug(
      {
        service: this.engine.balancer.service,
        instance: error.instance,
        code: error.code,
        method: this.req.method,
        cause: error.cause,
      },
      'ballast: proxy error',
    );
    this.fail(error);
  }

  start(): void {
    this.engine.diagnostics.sync();
    this.engine.budget?.request();
    try {
      const prepared = prepareRequest(
        this.engine.config,
        this.req,
        this.bodyOption,
        this.trustForwarded,
        (error) => this.abort(new ClientAbortError(error)),
      );
      this.upstream = prepared.upstream;
      this.requestBody = prepared.body;
      this.key = prepared.key;
      this.idempotent = prepared.idempotent;
    } catch (error) {
      this.finish();
      this.giveUp(toProxyError(error, undefined));
      return;
    }
    const body = this.requestBody;
    if (body instanceof BufferedBody) {
      // Read whole before any attempt, so no attempt's timer runs yet: `timeoutMs` bounds the
      // read, and a client that trickles the bytes it announced gets its 408 all the same.
      const ms = this.engine.config.timeoutMs;
      const timer = setTimeout(() => {
        if (this.over) return;
        this.finish();
        this.giveUp(toProxyError(new ClientTimeoutError(ms), undefined));
      }, ms);
      body.read((bytes) => {
        clearTimeout(timer);
        if (this.over) return;
        this.requestBody = bytes;
        this.next();
      });
      this.bodyTimer = timer;
      return;
    }
    this.next();
  }

  /** The client (or the caller's signal) went away: abort the upstream work and free the lease. */
  abort(reason: Error): void {
    if (this.over) return;
    this.aborted = reason;
    if (this.attempt !== undefined && this.attempt.phase !== Phase.Done) {
      this.attempt.cancel(reason);
    } else {
      this.finish();
      this.cancelled(reason);
    }
  }

  /** Picks an instance (none already tried); undefined if there is none. */
  private pick(): Lease | undefined {
    const tried = this.tried;
    const key = this.key;
    try {
      return this.engine.balancer.pick(
        tried === undefined
          ? key === undefined
            ? undefined
            : { key }
          : { key, exclude: tried, retry: true },
      );
    } catch (error) {
      this.pickError = error;
      return undefined;
    }
  }

  /** Starts the first attempt. */
  private next(): void {
    const lease = this.pick();
    if (lease === undefined) {
      this.finish();
      this.giveUp(
        new ProxyError(
          'BALLAST_NO_INSTANCE',
          `No instance available for service "${this.engine.balancer.service}"`,
          {
            cause: this.pickError,
            retryAfterSeconds: RETRY_AFTER_SECONDS,
          },
        ),
      );
      return;
    }
    this.launch(lease);
  }

  /** Starts an attempt on the leased instance. */
  private launch(lease: Lease): void {
    const target = this.engine.pools.get(lease.instance.url);
    if (target === undefined) {
      lease.release({ ok: true });
      this.finish();
      this.giveUp(
        new ProxyError('BALLAST_NO_INSTANCE', 'The proxy is closed', {
          retryAfterSeconds: RETRY_AFTER_SECONDS,
        }),
      );
      return;
    }
    const upstream = this.upstream!;
    const { timeoutMs, idleTimeoutMs } = this.engine.config;
    const attempt = new Attempt(this, lease, timeoutMs, idleTimeoutMs);
    this.attempt = attempt;
    const kept = this.requestBody;
    // A BufferedBody is replaced by its bytes before the first attempt.
    const body =
      kept instanceof RequestBody
        ? kept.attach()
        : dispatchBody(kept as Buffer | readonly Buffer[] | string | undefined);
    target.pool.dispatch(
      {
        path: upstreamPath(upstream.path, target.base),
        method: upstream.method,
        headers: upstream.headers,
        body,
        upgrade: this.upgrade,
      },
      attempt,
    );
  }

  onHeaders(
    attempt: Attempt,
    statusCode: number,
    raw: IncomingHttpHeaders,
    statusMessage: string | undefined,
  ): void {
    const latencyMs = attempt.stopClock();
    attempt.statusCode = statusCode;
    // Every outcome carries the load the server reports, an overloaded one's 503 above all.
    attempt.load = loadOfResponse(raw);
    if (statusCode === 502 || statusCode === 503 || statusCode === 504) {
      // The answer is dropped only if another instance can be tried; otherwise it goes through.
      const lease = this.retryLease(attempt, undefined, `status ${statusCode}`);
      if (lease !== undefined) {
        attempt.lease.release({ ok: false, status: statusCode, latencyMs, load: attempt.load });
        attempt.discard();
        this.launch(lease);
        return;
      }
    }
    const headers = raw as Record<string, string | string[]>;
    // Two field lines are one list (RFC 9112 §6.1): gzip, then chunked, is `gzip, chunked`.
    const lines = headers['transfer-encoding'];
    const coding = Array.isArray(lines) ? lines.join(', ') : lines;
    if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') {
      // undici decodes `chunked` only: the client would get still-coded bytes as the body.
      attempt.cancel(new BadResponseError(`unsupported transfer coding in the response: ${coding}`));
      return;
    }
    const response: UpstreamResponse = { statusCode, headers: stripResponseHeaders(headers) };
    const hook = this.engine.config.onProxyResponse;
    const refused = hook === undefined ? undefined : runResponseHook(hook, response, this.req, 200);
    if (refused !== undefined) {
      // The upstream answered; the hook failed. The lease records the upstream's outcome.
      attempt.cancel(refused);
      return;
    }
    attempt.phase = Phase.Streaming;
    if (this.mayHold(response)) {
      this.held = response;
      this.heldMessage = statusMessage;
      this.heldChunks = [];
      return;
    }
    this.deliver(attempt, response, statusMessage);
  }

  /**
   * Whether to hold the response until it is complete: a body of announced length within
   * `bufferResponseBytes` (NGINX buffers responses by default; Envoy, which streams, can neither
   * retry nor answer a status once the head went out). A failure mid-body is then retried when
   * the request may be, and answered 502 or 504 otherwise, never with a truncated response.
   */
  private mayHold(response: UpstreamResponse): boolean {
    const limit = this.engine.config.bufferResponseBytes;
    // A status without a body has nothing to hold, whatever its Content-Length announces.
    if (limit === 0 || hasNoBody(response.statusCode)) return false;
    const length = response.headers['content-length'];
    if (typeof length !== 'string') return false;
    const bytes = Number(length);
    return bytes > 0 && bytes <= limit;
  }

  onData(attempt: Attempt, chunk: Buffer): void {
    if (this.heldChunks !== undefined) this.heldChunks.push(chunk);
    else this.write(attempt, chunk);
  }

  onEnd(attempt: Attempt): void {
    const chunks = this.heldChunks;
    if (chunks !== undefined) {
      this.heldChunks = undefined;
      this.deliver(attempt, this.held!, this.heldMessage);
      this.held = undefined;
      // The receiver refused the head (it was answered meanwhile): nothing more to write.
      if (this.over) return;
      for (const chunk of chunks) this.write(attempt, chunk);
    }
    this.release(attempt, undefined);
    this.finish();
    this.end(attempt);
  }

  onError(attempt: Attempt, error: Error): void {
    if (this.heldChunks !== undefined) {
      // Nothing of this response reached the client: fail or retry as before the headers.
      this.heldChunks = undefined;
      this.held = undefined;
    } else if (attempt.phase === Phase.Streaming) {
      this.release(attempt, this.aborted ?? error);
      this.finish();
      attempt.phase = Phase.Done;
      // Logged here for every kind of exchange, as `giveUp` logs failures before a response.
      if (this.aborted === undefined)
        this.engine.logger.debug(
          { service: this.engine.balancer.service, instance: attempt.lease.instance.id, error },
          'ballast: upstream failed mid-response',
        );
      this.broken(attempt, this.aborted ?? error);
      return;
    }
    attempt.phase = Phase.Done;
    if (attempt.statusCode === 0) attempt.stopClock();
    this.release(attempt, this.aborted ?? error);
    if (this.aborted !== undefined) {
      this.finish();
      this.cancelled(this.aborted);
      return;
    }
    if (!FINAL_CODES.has(codeOf(error) ?? '')) {
      const lease = this.retryLease(attempt, error, error.message);
      if (lease !== undefined) {
        this.launch(lease);
        return;
      }
    }
    this.finish();
    this.giveUp(toProxyError(error, attempt.lease.instance.id));
  }

  /**
   * A lease on an instance not tried yet, to retry `attempt` on; undefined if it may not be
   * retried (retries, budget, method, body) or no instance is left. A retry counts against
   * `retries` and, if the upstream may have seen the request, the retry budget, only once it
   * has an instance to go to.
   */
  private retryLease(attempt: Attempt, error: Error | undefined, reason: string): Lease | undefined {
    if (this.over || this.aborted !== undefined || this.retriesLeft <= 0) return undefined;
    if (this.requestBody instanceof RequestBody && !this.requestBody.replayable) return undefined;
    const budget = this.engine.budget;
    const charged = attempt.written && !(error !== undefined && isConnectFailure(error));
    if (charged && (!this.idempotent || (budget !== undefined && !budget.allows()))) return undefined;
    const id = attempt.lease.instance.id;
    (this.tried ??= []).push(id);
    const lease = this.pick();
    this.engine.logger.debug(
      {
        service: this.engine.balancer.service,
        instance: id,
        method: this.upstream?.method,
        reason,
        retried: lease !== undefined,
      },
      lease === undefined
        ? 'ballast: no other instance to retry on'
        : 'ballast: retrying on another instance',
    );
    if (lease !== undefined) {
      this.retriesLeft -= 1;
      if (charged) budget?.tryRetry();
    }
    return lease;
  }

  /** Releases the attempt's lease with its outcome. A client abort is not held against the instance. */
  private release(attempt: Attempt, error: Error | undefined): void {
    const status = attempt.statusCode;
    // Neither a client that went away, nor a throwing hook, nor a request undici refused says
    // anything about the instance.
    const neutral =
      error === undefined ||
      error === this.aborted ||
      error instanceof HookError ||
      error instanceof ClientTimeoutError ||
      REQUEST_FAULTS.has(codeOf(error) ?? '');
    const ok = neutral && status < 500;
    attempt.lease.release(
      status === 0
        ? { ok, latencyMs: attempt.latencyMs, error }
        : { ok, status, latencyMs: attempt.latencyMs, error, load: attempt.load },
    );
  }

  /**
   * The receiver of the response (the client, or `forward()`'s caller) is full: the upstream body
   * waits until it drains. If it stays full for `idleTimeoutMs`, it is given up (`stalled`), as
   * NGINX's `send_timeout`: a client that stopped reading must not hold a lease and an upstream
   * connection for as long as it keeps its socket open.
   */
  protected pauseUpstream(attempt: Attempt): void {
    attempt.pause();
    this.stallTimer ??= setTimeout(onStalled, this.engine.config.idleTimeoutMs, this);
  }

  /** The receiver wants more: the upstream body flows again. */
  resumeUpstream(attempt = this.attempt): void {
    this.clearStall();
    attempt?.resume();
  }

  private clearStall(): void {
    if (this.stallTimer === undefined) return;
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
  }

  waitingForClient(): boolean {
    return this.requestBody instanceof RequestBody && this.requestBody.waitingForClient;
  }

  /** Called when the receiver stayed full for `idleTimeoutMs`: end the response to it. */
  protected abstract stalled(): void;

  /** @internal */
  giveUpStalled(): void {
    this.stallTimer = undefined;
    if (this.over) return;
    this.engine.logger.debug(
      { service: this.engine.balancer.service, instance: this.attempt?.lease.instance.id },
      'ballast: the client stopped reading the response; closing it',
    );
    this.stalled();
  }

  protected finish(): void {
    if (this.over) return;
    this.over = true;
    this.clearStall();
    clearTimeout(this.bodyTimer);
    const body = this.requestBody;
    if (body instanceof RequestBody || body instanceof BufferedBody) body.dispose();
  }
}

function onStalled(exchange: Exchange): void {
  exchange.giveUpStalled();
}
