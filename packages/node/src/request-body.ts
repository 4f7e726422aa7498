import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

/**
 * The streamed body of one proxied request, fed to one attempt after another. Each attempt gets
 * its own Readable (undici destroys it on failure; the client's request must survive that). The
 * bytes read so far are kept while they fit in the replay buffer, so a retry can send them
 * again and go on with the rest; once they overflow, the body can be retried only if no attempt
 * has read from it yet. Backpressure: the source is paused whenever the current attempt's
 * Readable is full, and resumed when it asks for more.
 */
export class RequestBody {
  private chunks: Buffer[] | undefined = [];
  private size = 0;
  private consumed = false;
  private ended = false;
  private failed: Error | undefined;
  private current: Readable | undefined;
  /** Set when the source failed: the client went away mid-upload. */
  onSourceError: ((error: Error) => void) | undefined;

  constructor(
    private readonly source: Readable,
    private readonly limit: number,
  ) {
    source.pause();
    source.on('data', this.onData);
    source.on('end', this.onEnd);
    source.on('error', this.onError);
  }

  /**
   * Whether the current attempt is waiting for the client's bytes: it asked for more (the source
   * flows) and the client has not sent them. Paused, it is the upstream that is not reading.
   */
  get waitingForClient(): boolean {
    return this.current !== undefined && !this.ended && this.failed === undefined && !this.source.isPaused();
  }

  /** Whether a new attempt can get the whole body. */
  get replayable(): boolean {
    return !this.consumed || this.chunks !== undefined;
  }

  /** A fresh Readable for the next attempt: the kept bytes, then the rest of the source. */
  attach(): Readable {
    this.detach();
    const body = new Readable({
      read: () => {
        if (this.current === body && !this.ended) this.source.resume();
      },
      destroy: (error, callback) => {
        if (this.current === body) this.detach();
        callback(error);
      },
    });
    this.current = body;
    if (this.chunks !== undefined) for (const chunk of this.chunks) body.push(chunk);
    if (this.failed !== undefined) body.destroy(this.failed);
    else if (this.ended) body.push(null);
    return body;
  }

  /** Stops feeding the current attempt. */
  detach(): void {
    const body = this.current;
    if (body === undefined) return;
    this.current = undefined;
    if (!this.ended) this.source.pause();
    if (!body.destroyed) body.destroy();
  }

  /** Lets go of the source for good (the exchange is over). */
  dispose(): void {
    this.detach();
    this.chunks = undefined;
    this.source.off('data', this.onData);
    this.source.off('end', this.onEnd);
    // The error listener stays: an abort after the exchange must not become an uncaught error.
  }

  private readonly onData = (chunk: Buffer | string): void => {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.consumed = true;
    if (this.chunks !== undefined) {
      this.size += buffer.length;
      if (this.size <= this.limit) this.chunks.push(buffer);
      else this.chunks = undefined;
    }
    const body = this.current;
    if (body === undefined) this.source.pause();
    else if (!body.push(buffer)) this.source.pause();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.current?.push(null);
  };

  private readonly onError = (error: Error): void => {
    this.failed = error;
    this.current?.destroy(error);
    this.onSourceError?.(error);
  };
}

/**
 * A request body of known length that fits the replay buffer, read whole before the first
 * attempt, as NGINX buffers request bodies by default: every attempt then sends the same bytes,
 * a retry can always replay them, and no per-attempt stream sits between the client and undici.
 * The bytes are kept as the chunks they arrived in (undici writes an array of them chunk by
 * chunk): joining them would copy every byte once more, 8 µs of a 64 KiB POST here. Larger or
 * chunked bodies stream through `RequestBody`.
 */
export class BufferedBody {
  private readonly chunks: Buffer[] = [];
  private done: ((body: Buffer | readonly Buffer[]) => void) | undefined;

  constructor(
    private readonly source: Readable,
    private readonly onSourceError: (error: Error) => void,
  ) {}

  /**
   * Reads the source to its end, then calls `done` with the bytes, one Buffer or the chunks in
   * order (unless disposed first).
   */
  read(done: (body: Buffer | readonly Buffer[]) => void): void {
    this.done = done;
    this.source.on('data', this.onData);
    this.source.on('end', this.onEnd);
    this.source.on('error', this.onError);
    this.source.resume();
  }

  dispose(): void {
    this.done = undefined;
    this.source.off('data', this.onData);
    this.source.off('end', this.onEnd);
    // The error listener stays: an abort after the exchange must not become an uncaught error.
  }

  private readonly onData = (chunk: Buffer | string): void => {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.chunks.push(buffer);
  };

  private readonly onEnd = (): void => {
    const done = this.done;
    this.dispose();
    done?.(this.chunks.length === 1 ? this.chunks[0]! : this.chunks);
  };

  private readonly onError = (error: Error): void => {
    if (this.done === undefined) return;
    this.dispose();
    this.onSourceError(error);
  };
}

/** The client's announced body length if it fits `limit` (and is not chunked), else undefined. */
export function smallBodyLength(req: IncomingMessage, limit: number): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined || req.headers['transfer-encoding'] !== undefined) return undefined;
  const length = Number(header);
  return length > 0 && length <= limit ? length : undefined;
}

/**
 * Bytes as undici's dispatch takes them. A BufferedBody's chunks go as they are: dispatch takes
 * any Iterable body and writes it chunk by chunk (undici's docs/api/Dispatcher.md, `body`),
 * though its TypeScript types list only single-buffer bodies.
 */
export function dispatchBody(
  bytes: Buffer | readonly Buffer[] | string | undefined,
): Buffer | string | undefined {
  return bytes as Buffer | string | undefined;
}
