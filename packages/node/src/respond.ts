import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Attempt, Engine } from './attempt';
import { ClientAbortError, ProxyError, RETRY_AFTER_SECONDS, toProxyError } from './errors';
import { Exchange } from './exchange';
import { mergeEarlierHeaders } from './headers';
import type { ForwardOptions, ForwardResponse, UpstreamResponse } from './types';

const TEXT: Record<400 | 408 | 502 | 503 | 504, string> = {
  400: 'Bad Request\n',
  408: 'Request Timeout\n',
  502: 'Bad Gateway\n',
  503: 'Service Unavailable\n',
  504: 'Gateway Timeout\n',
};

/**
 * Answers a ProxyError: its status, `Retry-After` on a 503, and a one-line plain-text body, never
 * a stack trace. If the response has already begun, the connection is closed instead (a status
 * can no longer be given).
 */
export function respondError(err: ProxyError, res: ServerResponse): void {
  if (res.headersSent || res.writableEnded) {
    if (!res.writableFinished) res.destroy();
    return;
  }
  const status = err instanceof ProxyError ? err.statusCode : 502;
  const body = TEXT[status] ?? TEXT[502];
  const headers: OutgoingHttpHeaders = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  };
  if (status === 503) headers['retry-after'] = String(err.retryAfterSeconds ?? RETRY_AFTER_SECONDS);
  closeIfUploading(res);
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * A response that goes out while the client is still sending its body (the upstream answered, or
 * failed, before reading all of it) closes the connection after it: Node reads no more of a
 * request whose response has ended, so the upload, and the keep-alive connection, would stall
 * until the server's keep-alive timeout.
 */
function closeIfUploading(res: ServerResponse): void {
  if (res.req !== undefined && !res.req.complete) res.shouldKeepAlive = false;
}

/** Characters Node refuses in a reason phrase (it throws, and keeps the bad one for the next try). */
const INVALID_REASON = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * The upstream's reason phrase as Node can write it: undici decodes it as UTF-8, Node writes it
 * as latin1, so non-latin1 text goes back to its bytes; anything else invalid is dropped.
 */
function reasonPhrase(message: string): string | undefined {
  if (!INVALID_REASON.test(message)) return message;
  const bytes = Buffer.from(message).toString('latin1');
  return INVALID_REASON.test(bytes) ? undefined : bytes;
}

/**
 * The request handler's exchange: streams the upstream response into the client's `res`. With
 * `body`, sends it in place of the request's own stream (one a body parser already read).
 */
export class ResponseExchange extends Exchange {
  constructor(
    engine: Engine,
    req: IncomingMessage,
    private readonly res: ServerResponse,
    body?: Buffer | string,
  ) {
    super(engine, req, body);
    res.on('close', this.onClose);
  }

  override start(): void {
    // The client may have left while earlier middleware ran: then there is nothing to do.
    if (this.res.destroyed || this.res.writableEnded) {
      this.over = true;
      return;
    }
    super.start();
  }

  /**
   * The response closed before the exchange was over: the client went away, or another middleware
   * answered meanwhile (a timeout handler). Either way nobody waits for the upstream's answer: it
   * is given up at once and the lease freed, with nothing held against the instance.
   */
  private readonly onClose = (): void => {
    this.abort(new ClientAbortError());
  };

  private readonly onDrain = (): void => {
    this.resumeUpstream();
  };

  protected deliver(_attempt: Attempt, response: UpstreamResponse, statusMessage: string | undefined): void {
    const res = this.res;
    if (res.headersSent || res.writableEnded) {
      // Another middleware answered first (its 'close' may still be on its way, or its body still
      // streaming): writing this head would throw, and cutting its response would be worse.
      this.abort(new ClientAbortError());
      return;
    }
    closeIfUploading(res);
    const reason = statusMessage ? reasonPhrase(statusMessage) : undefined;
    const headers = mergeEarlierHeaders(res, response.headers);
    if (reason) res.writeHead(response.statusCode, reason, headers);
    else res.writeHead(response.statusCode, headers);
    res.on('drain', this.onDrain);
  }

  protected write(attempt: Attempt, chunk: Buffer): void {
    if (!this.res.write(chunk)) this.pauseUpstream(attempt);
  }

  protected end(): void {
    this.res.end();
  }

  protected stalled(): void {
    // Its 'close' aborts the exchange as a client abort: the lease is not held against the instance.
    this.res.destroy();
  }

  protected broken(attempt: Attempt, error: Error): void {
    if (error === this.aborted) return;
    // Before the head went out (writeHead refused a header) the client still gets a status.
    respondError(toProxyError(error, attempt.lease.instance.id), this.res);
  }

  protected fail(error: ProxyError): void {
    // Another middleware is already answering (its head went out, its body still going): the
    // response is its own, and neither the default answer nor `onError` may cut it.
    if (this.res.headersSent) return;
    // Whoever answers, a client still uploading gets its connection closed after the answer.
    closeIfUploading(this.res);
    answerError(this.engine, error, this.req, this.res);
  }

  protected cancelled(): void {
    // Nobody to answer.
  }
}

/** The `forward()` exchange: resolves with the response head and a Readable of the body. */
export class ForwardExchange extends Exchange {
  private responseBody: UpstreamBody | undefined;
  /** Buffered mode: the response head and the chunks so far, resolved at the end. */
  private head: UpstreamResponse | undefined;
  private chunks: Buffer[] | undefined;

  private readonly signal: AbortSignal | undefined;
  private readonly response: ServerResponse | undefined;
  private readonly bufferBytes: number;

  constructor(
    engine: Engine,
    req: IncomingMessage,
    bodyOption: Buffer | string | Readable | undefined,
    options: ForwardOptions | undefined,
    private readonly resolve: (response: ForwardResponse<Readable | Buffer>) => void,
    private readonly reject: (error: ProxyError) => void,
  ) {
    super(engine, req, bodyOption, options?.trustForwarded);
    this.signal = options?.signal;
    this.response = options?.response;
    this.bufferBytes = options?.bufferBytes ?? 0;
  }

  override start(): void {
    const signal = this.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.over = true;
        this.cancelled(new ClientAbortError(signal.reason));
        return;
      }
      signal.addEventListener('abort', this.onAbort);
    }
    this.response?.once('close', this.onResponseClose);
    super.start();
  }

  private readonly onAbort = (): void => {
    this.abort(new ClientAbortError(this.signal?.reason));
  };

  private readonly onResponseClose = (): void => {
    if (!this.response!.writableFinished) this.abort(new ClientAbortError());
  };

  protected deliver(attempt: Attempt, response: UpstreamResponse): void {
    // The caller writes the head; the connection's fate has to be settled before it does.
    if (this.response !== undefined) closeIfUploading(this.response);
    const length = Number(response.headers['content-length']);
    if (length >= 0 && length <= this.bufferBytes) {
      // A small body of known length is handed over whole: a Buffer costs the caller (Koa) far
      // less than a stream per request, and a failure mid-body can still become a 502.
      this.head = response;
      this.chunks = [];
      return;
    }
    this.responseBody = new UpstreamBody(this, attempt);
    this.resolve({ statusCode: response.statusCode, headers: response.headers, body: this.responseBody });
  }

  protected write(attempt: Attempt, chunk: Buffer): void {
    if (this.chunks !== undefined) this.chunks.push(chunk);
    else if (!this.responseBody!.push(chunk)) this.pauseUpstream(attempt);
  }

  protected stalled(): void {
    // Destroying it aborts the exchange as a client abort, and the caller's pipe sees the error.
    this.responseBody?.destroy(
      new Error(`the response was not read for ${this.engine.config.idleTimeoutMs} ms`),
    );
  }

  protected end(): void {
    if (this.chunks === undefined) {
      this.responseBody!.push(null);
      return;
    }
    const { statusCode, headers } = this.head!;
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = undefined;
    this.resolve({ statusCode, headers, body });
  }

  protected broken(attempt: Attempt, error: Error): void {
    if (this.chunks !== undefined) {
      this.chunks = undefined;
      if (error === this.aborted) this.cancelled(error);
      else this.reject(toProxyError(error, attempt.lease.instance.id));
    } else if (error === this.aborted) this.responseBody!.destroy();
    else this.responseBody!.destroy(toProxyError(error, attempt.lease.instance.id));
  }

  protected fail(error: ProxyError): void {
    if (this.response !== undefined) closeIfUploading(this.response);
    this.reject(error);
  }

  protected cancelled(reason: Error): void {
    this.reject(new ProxyError('BALLAST_UPSTREAM_ERROR', 'The request was aborted', { cause: reason }));
  }

  protected override finish(): void {
    super.finish();
    this.signal?.removeEventListener('abort', this.onAbort);
    this.response?.off('close', this.onResponseClose);
  }
}

/** The upstream body as `forward()` hands it out; destroying it aborts the upstream request. */
class UpstreamBody extends Readable {
  constructor(
    private readonly exchange: ForwardExchange,
    private readonly attempt: Attempt,
  ) {
    super();
  }

  override _read(): void {
    this.exchange.resumeUpstream(this.attempt);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A body read to its end is destroyed on every normal finish: no abort, and no error (with
    // its stack trace) built for nothing.
    if (error !== null || !this.readableEnded) this.exchange.abort(new ClientAbortError(error ?? undefined));
    callback(error);
  }
}

/**
 * Answers a failed request: through `onError` when there is one, else with `respondError`. An
 * `onError` that throws, or an async one that rejects (a throw, only later: unobserved, it would
 * be an unhandled rejection, the end of the process, and the client would get no answer), is
 * logged, and the default answer goes out if none has.
 */
export function answerError(
  engine: Engine,
  error: ProxyError,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const onError = engine.config.onError;
  if (onError === undefined) {
    respondError(error, res);
    return;
  }
  const failed = (hookError: unknown): void => {
    engine.logger.error(
      { service: engine.balancer.service, error: hookError },
      'ballast: onError hook threw',
    );
    if (!res.headersSent && !res.writableEnded) respondError(error, res);
  };
  try {
    const answered: unknown = onError(error, req, res);
    if (isThenable(answered)) answered.then(undefined, failed);
  } catch (hookError) {
    failed(hookError);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
