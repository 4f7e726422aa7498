import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Attempt, Engine } from './attempt';
import { ClientAbortError, ProxyError, RETRY_AFTER_SECONDS, toProxyError } from './errors';
import { Exchange } from './exchange';
import { loadOfResponse, runResponseHook, stripResponseHeaders } from './headers';
import type { UpstreamResponse } from './types';

/**
 * An HTTP upgrade (WebSocket) through the proxy: balanced and retried like any GET, then, on the
 * upstream's 101, a raw tunnel between the client's socket and the upstream's. The lease is held
 * for the life of the tunnel, so connection-counting strategies see open WebSockets; its latency
 * is the time to the 101. A refusal (any other status) is relayed to the client, connection closed.
 * A failure is answered with a plain 502, 503 or 504 on the socket (`onError` applies to
 * `ServerResponse`s only).
 */
export class UpgradeExchange extends Exchange {
  private tunnel = false;
  /** What the client sent after its request, before the tunnel opened (read to see its FIN). */
  private early: Buffer[] | undefined;
  private earlyBytes = 0;

  constructor(
    engine: Engine,
    req: IncomingMessage,
    private readonly socket: Duplex,
    private readonly head: Buffer,
  ) {
    super(engine, req, undefined);
    const protocol = req.headers.upgrade;
    this.upgrade = typeof protocol === 'string' && protocol !== '' ? protocol : 'websocket';
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    // Node hands the socket over paused, and allows half-open connections: unread, a client's
    // FIN never surfaces, and a client that left would hold the lease until the upstream answers.
    socket.on('end', this.onSocketClose);
    socket.on('data', this.onEarlyData);
  }

  private readonly onEarlyData = (chunk: Buffer): void => {
    (this.early ??= []).push(chunk);
    this.earlyBytes += chunk.length;
    if (this.earlyBytes > MAX_EARLY_BYTES) this.socket.pause();
  };

  private readonly onSocketError = (error: Error): void => {
    if (!this.tunnel) this.abort(new ClientAbortError(error));
  };

  private readonly onSocketClose = (): void => {
    if (!this.tunnel) this.abort(new ClientAbortError());
  };

  private readonly onDrain = (): void => {
    this.resumeUpstream();
  };

  onUpgrade(attempt: Attempt, statusCode: number, raw: IncomingHttpHeaders, upstream: Duplex): void {
    const latencyMs = attempt.stopClock();
    const lease = attempt.lease;
    const socket = this.socket;
    this.finish();
    this.tunnel = true;
    const headers = raw as Record<string, string | string[]>;
    const protocol = headers.upgrade;
    const response: UpstreamResponse = { statusCode, headers: stripResponseHeaders(headers) };
    const hook = this.engine.config.onProxyResponse;
    const refused = hook === undefined ? undefined : runResponseHook(hook, response, this.req, 101);
    const load = loadOfResponse(raw);
    if (refused !== undefined || socket.destroyed) {
      lease.release({ ok: true, status: statusCode, latencyMs, load });
      upstream.destroy();
      if (refused !== undefined) this.fail(toProxyError(refused, lease.instance.id));
      return;
    }
    response.headers.connection = 'Upgrade';
    response.headers.upgrade = protocol ?? this.upgrade ?? 'websocket';
    // From here the tunnel reads the client: paused first, so no byte is emitted to nobody.
    socket.pause();
    socket.off('data', this.onEarlyData);
    socket.off('end', this.onSocketClose);

    let open = true;
    let finWait: NodeJS.Timeout | undefined;
    const tunnels = this.engine.tunnels;
    const close = (): void => {
      if (!open) return;
      open = false;
      if (finWait !== undefined) clearTimeout(finWait);
      tunnels.delete(close);
      lease.release({ ok: true, status: statusCode, latencyMs, load });
      socket.destroy();
      upstream.destroy();
    };
    tunnels.add(close);
    upstream.on('error', close);
    socket.on('error', close);
    // A side that closed after its end: the pipe has ended the other side's writing, which may
    // still hold bytes for a slow reader (the last message, a close frame). They go out first;
    // the half-closed timer below bounds the wait.
    const closed = (from: Duplex, to: Duplex) => (): void => {
      if (from.readableEnded && !to.destroyed && !to.writableFinished) {
        to.once('finish', close);
        halfClosed();
      } else {
        close();
      }
    };
    upstream.on('close', closed(upstream, socket));
    socket.on('close', closed(socket, upstream));
    // One side's FIN is passed on (pipe ends the other's writing side), but a peer that never
    // sends its own would hold the tunnel, its lease and both sockets for good (Node's servers
    // allow half-open sockets). As HAProxy's `timeout client-fin`/`server-fin`, once one side has
    // finished the tunnel is closed after `idleTimeoutMs` without a byte either way; a side still
    // sending (output after the client closed its input, as with `docker attach`) keeps it open.
    const halfClosed = (): void => {
      if (finWait !== undefined || !open) return;
      const timer = setTimeout(close, this.engine.config.idleTimeoutMs);
      timer.unref();
      finWait = timer;
      const busy = (): void => void timer.refresh();
      socket.on('data', busy);
      upstream.on('data', busy);
    };
    socket.once('end', halfClosed);
    upstream.once('end', halfClosed);
    // Frames are small and latency-bound: no Nagle delay on either leg.
    (socket as Partial<Socket>).setNoDelay?.(true);
    (upstream as Partial<Socket>).setNoDelay?.(true);
    socket.write(rawHead(statusCode, 'Switching Protocols', response.headers));
    if (this.head.length > 0) upstream.write(this.head);
    if (this.early !== undefined) for (const chunk of this.early) upstream.write(chunk);
    this.early = undefined;
    upstream.pipe(socket);
    socket.pipe(upstream);
    // A 101 after close() began (from an instance removed meanwhile, whose pool close() does not
    // wait for) would open a tunnel that outlives the proxy: it is ended at once, as close() ends
    // the others.
    if (this.engine.pools.closed) close();
  }

  protected deliver(_attempt: Attempt, response: UpstreamResponse, statusMessage: string | undefined): void {
    response.headers.connection = 'close';
    this.socket.write(rawHead(response.statusCode, statusMessage, response.headers));
    this.socket.on('drain', this.onDrain);
  }

  protected write(attempt: Attempt, chunk: Buffer): void {
    if (!this.socket.write(chunk)) this.pauseUpstream(attempt);
  }

  protected end(): void {
    endThenClose(this.socket, this.engine.config.idleTimeoutMs);
  }

  protected stalled(): void {
    this.socket.destroy();
  }

  protected broken(): void {
    this.socket.destroy();
  }

  protected fail(error: ProxyError): void {
    writeError(this.socket, error, this.engine.config.idleTimeoutMs);
  }

  protected cancelled(): void {
    this.socket.destroy();
  }
}

/** Bytes a client may send before the tunnel opens; beyond them it is no longer read. */
const MAX_EARLY_BYTES = 64 * 1024;

/** A response head in HTTP/1.1 wire format. */
function rawHead(
  status: number,
  message: string | undefined,
  headers: Record<string, string | string[]>,
): string {
  let head = `HTTP/1.1 ${status} ${message || STATUS_CODES[status] || ''}\r\n`;
  for (const name in headers) {
    const value = headers[name];
    if (Array.isArray(value)) for (const item of value) head += `${name}: ${item}\r\n`;
    else if (value !== undefined) head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

/** Answers a failed upgrade on the raw socket, as `respondError` would on a response. */
export function writeError(socket: Duplex, error: ProxyError, idleTimeoutMs: number): void {
  const status = error.statusCode;
  writeStatus(
    socket,
    status,
    idleTimeoutMs,
    status === 503 ? { 'retry-after': String(error.retryAfterSeconds ?? RETRY_AFTER_SECONDS) } : {},
  );
}

/**
 * A plain-text answer of `status` on the raw socket, which it then closes: once the client has
 * closed its side, or after `idleTimeoutMs` (at most a second) if it keeps it open.
 */
export function writeStatus(
  socket: Duplex,
  status: number,
  idleTimeoutMs: number,
  extra: Record<string, string> = {},
): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${STATUS_CODES[status] ?? 'Bad Gateway'}\n`;
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
    ...extra,
  };
  socket.end(rawHead(status, undefined, headers) + body);
  lingerThenClose(socket, Math.min(idleTimeoutMs, STATUS_LINGER_MS));
}

/** Most time a client has to read a plain-text answer on a raw socket before it is closed. */
const STATUS_LINGER_MS = 1_000;

/**
 * Ends `socket` and closes it once `ms` have passed: an answer that is not a tunnel leaves no
 * connection open, though Node's servers allow half-open sockets and a client may keep its side
 * open for good (server.closeAllConnections() does not see upgraded sockets).
 */
function endThenClose(socket: Duplex, ms: number): void {
  socket.end();
  lingerThenClose(socket, ms);
}

function lingerThenClose(socket: Duplex, ms: number): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), ms);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
