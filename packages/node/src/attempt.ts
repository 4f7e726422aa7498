import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Balancer, Lease, Logger } from '@ballast/core';
import type { Dispatcher } from 'undici';
import type { DiagnosticsPublisher } from './diagnostics';
import { AttemptTimeoutError, ClientTimeoutError } from './errors';
import type { ProxyConfig } from './options';
import type { Pools } from './pools';
import type { RetryBudget } from './retry-budget';

/** What every exchange of one proxy shares. */
export interface Engine {
  readonly balancer: Balancer;
  readonly config: ProxyConfig;
  readonly pools: Pools;
  readonly budget: RetryBudget | undefined;
  readonly logger: Logger;
  readonly diagnostics: DiagnosticsPublisher;
  /** Closers of the open upgrade tunnels: `close()` ends them, releasing their leases. */
  readonly tunnels: Set<() => void>;
}

/** The receiver of one attempt's events: an exchange. */
export interface AttemptOwner {
  onHeaders(
    attempt: Attempt,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage: string | undefined,
  ): void;
  onData(attempt: Attempt, chunk: Buffer): void;
  onEnd(attempt: Attempt): void;
  onError(attempt: Attempt, error: Error): void;
  /** Whether the request is still waiting for the client's body bytes (a slow upload). */
  waitingForClient(): boolean;
  /** The upstream switched protocols (101); `socket` is now the owner's. */
  onUpgrade?(attempt: Attempt, statusCode: number, headers: IncomingHttpHeaders, socket: Duplex): void;
}

/** Where an attempt is in its life. */
export const Phase = {
  /** Dispatched, waiting for response headers. */
  Waiting: 0,
  /** Headers delivered; the body streams to the client. */
  Streaming: 1,
  /** A 502/503/504 being retried elsewhere: its body is read and dropped. */
  Discarding: 2,
  /** Settled: later undici events are ignored. */
  Done: 3,
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

const perf = performance;
/**
 * A retried error response's body is drained (keeping the socket) up to this size and for at most
 * this long (or `idleTimeoutMs`, if shorter), else dropped: an upstream trickling its error body
 * must not hold a connection, and the proxy's `close()`, for as long as it likes.
 */
const MAX_DISCARD_BYTES = 64 * 1024;
const MAX_DISCARD_MS = 1_000;

/**
 * One try of one request on one instance: the undici dispatch handler, the lease and the
 * attempt's headers timer. Undici events reach the owning exchange only while they concern it.
 */
export class Attempt implements Dispatcher.DispatchHandler {
  phase: Phase = Phase.Waiting;
  /** Set at `onRequestStart`: from then on, bytes of the request may have reached the upstream. */
  controller: Dispatcher.DispatchController | undefined;
  /** Measured at the response headers (time to first byte), or at the failure. */
  latencyMs = 0;
  statusCode = 0;
  load: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The idle timer of the response body, and when its last chunk came (see `armIdle`). */
  private idleTimer: NodeJS.Timeout | undefined;
  private lastDataAt = 0;
  private paused = false;
  private abortReason: Error | undefined;
  private discarded = 0;
  readonly startedAt = perf.now();

  constructor(
    private readonly owner: AttemptOwner,
    readonly lease: Lease,
    timeoutMs: number,
    private readonly idleTimeoutMs: number,
  ) {
    this.timer = setTimeout(onTimeout, timeoutMs, this, timeoutMs);
  }

  /**
   * Starts the response body's idle timer: `idleTimeoutMs` without a chunk abandons the attempt
   * (504, or a closed connection once the head went out). One timer per response, not one per
   * chunk: a chunk only notes its time, and the timer, when it fires, waits out the rest.
   * undici's `bodyTimeout` stays as a backstop; its timer ticks every half second, so a 200 ms
   * setting fired after about a second.
   */
  private armIdle(): void {
    this.lastDataAt = perf.now();
    this.idleTimer = setTimeout(onIdle, this.idleTimeoutMs, this);
  }

  /**
   * The idle timer fired: give up, or wait out the time left since the last chunk. Not while
   * the receiver holds the body back (`pause`): that wait is the exchange's stall timer's. While
   * discarding, it is the drain's time limit.
   */
  idleCheck(): void {
    this.idleTimer = undefined;
    if (this.phase === Phase.Discarding) this.drop();
    if (this.phase !== Phase.Streaming) return;
    const left = this.paused ? this.idleTimeoutMs : this.idleTimeoutMs - (perf.now() - this.lastDataAt);
    if (left > 0) this.idleTimer = setTimeout(onIdle, left, this);
    else this.cancel(new AttemptTimeoutError('idle', this.idleTimeoutMs));
  }

  /** The receiver is full: the upstream body waits, and its idle time does not count. */
  pause(): void {
    this.paused = true;
    this.controller?.pause();
  }

  /** The receiver wants more: the upstream body flows again, its idle time counted from now. */
  resume(): void {
    if (this.paused) this.lastDataAt = perf.now();
    this.paused = false;
    this.controller?.resume();
  }

  private stopIdle(): void {
    if (this.idleTimer === undefined) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  get written(): boolean {
    return this.controller !== undefined;
  }

  /** Stops the headers timer and records the time to first byte. */
  stopClock(): number {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.latencyMs = perf.now() - this.startedAt;
    return this.latencyMs;
  }

  /**
   * `timeoutMs` ran out before the response headers: the upstream's fault, unless the upload was
   * still waiting on the client, whose slowness says nothing about the instance. An attempt not
   * yet written waited for a connection, whatever the body did: a replayed one reads ahead.
   */
  timedOut(ms: number): void {
    this.timer = undefined;
    this.cancel(
      this.written && this.owner.waitingForClient()
        ? new ClientTimeoutError(ms)
        : new AttemptTimeoutError('headers', ms),
    );
  }

  /**
   * Abandons the attempt with `reason`. The owner hears of it at once, through `onError`, even if
   * undici has not started the request yet (it is aborted when it does).
   */
  cancel(reason: Error): void {
    if (this.phase === Phase.Done) return;
    if (this.controller !== undefined) this.controller.abort(reason);
    else this.abortReason = reason;
    // undici reports an abort through onResponseError, synchronously today; never count on it.
    if (this.phase === Phase.Waiting || this.phase === Phase.Streaming) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.stopIdle();
      this.owner.onError(this, reason);
    }
    this.phase = Phase.Done;
  }

  /** Drains the rest of a retried error response, for a while (see `MAX_DISCARD_MS`). */
  discard(): void {
    this.phase = Phase.Discarding;
    this.idleTimer = setTimeout(onIdle, Math.min(this.idleTimeoutMs, MAX_DISCARD_MS), this);
  }

  /** Gives up draining: closes the connection. */
  private drop(): void {
    this.phase = Phase.Done;
    this.controller?.abort(new Error('retried response dropped'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.abortReason !== undefined || this.phase === Phase.Done) {
      controller.abort(this.abortReason ?? new Error('attempt abandoned'));
      return;
    }
    this.controller = controller;
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    // 1xx informational responses (103 Early Hints) are not forwarded.
    if (statusCode < 200) return;
    if (this.phase !== Phase.Waiting) {
      controller.abort(new Error('attempt abandoned'));
      return;
    }
    this.owner.onHeaders(this, statusCode, headers, statusMessage);
    // onHeaders moved the phase on (TypeScript still sees it narrowed to Waiting).
    if ((this.phase as Phase) === Phase.Streaming) this.armIdle();
  }

  onRequestUpgrade(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    socket: Duplex,
  ): void {
    if (this.phase !== Phase.Waiting || this.owner.onUpgrade === undefined) {
      socket.destroy();
      return;
    }
    this.phase = Phase.Done;
    this.owner.onUpgrade(this, statusCode, headers, socket);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.phase === Phase.Streaming) {
      this.lastDataAt = perf.now();
      this.owner.onData(this, chunk);
    } else if (this.phase === Phase.Discarding) {
      this.discarded += chunk.length;
      if (this.discarded > MAX_DISCARD_BYTES) {
        this.stopIdle();
        this.drop();
      }
    }
  }

  onResponseEnd(): void {
    this.stopIdle();
    if (this.phase === Phase.Streaming) this.owner.onEnd(this);
    this.phase = Phase.Done;
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.stopIdle();
    if (this.phase === Phase.Streaming && hasNoBody(this.statusCode) && isLengthMismatch(error)) {
      // A 204 or 304 has no body, whatever its Content-Length says (RFC 9112 §6.3); a 304 may
      // announce that of the 200 (RFC 9110 §8.6, as ASP.NET Core and Tornado do). undici
      // counts the bytes it never got as a short body.
      this.onResponseEnd();
      return;
    }
    if (this.phase === Phase.Waiting || this.phase === Phase.Streaming) this.owner.onError(this, error);
    this.phase = Phase.Done;
  }
}

/** Whether a response with this status never has a body (RFC 9112 §6.3): 1xx, 204 and 304. */
export function hasNoBody(statusCode: number): boolean {
  return statusCode === 204 || statusCode === 304 || (statusCode >= 100 && statusCode < 200);
}

function isLengthMismatch(error: Error): boolean {
  return (error as { code?: unknown }).code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH';
}

function onTimeout(attempt: Attempt, ms: number): void {
  attempt.timedOut(ms);
}

function onIdle(attempt: Attempt): void {
  attempt.idleCheck();
}
