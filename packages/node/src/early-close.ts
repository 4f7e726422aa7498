/**
 * Connections an upstream closes early.
 *
 * An HTTP/1.1 server that means to close a connection says so (`Connection: close`), and one that
 * keeps connections alive closes them only after an idle period (Node's 5 s, announced in
 * `Keep-Alive: timeout=5`), which undici anticipates by closing first. A server that closes
 * connections without notice right after its responses breaks that contract: each close races
 * the next request written on the connection, and a POST that loses the race cannot be retried
 * (the server may have read it). Its responses are correct, so no lease reports a failure; this
 * watcher sees it at the connection level instead.
 *
 * A close is *early* when the upstream ended the connection while undici expected it to stay open
 * (undici fails the socket with its `SocketError`, "other side closed") within `EARLY_CLOSE_MS`
 * of the last bytes it sent: that leaves out idle timeouts, even ones shorter than undici
 * assumes. `limit` early closes in a row, each within `WINDOW_MS` of the one before and with no
 * connection of the origin ending any other way in between, make the instance an outlier: the
 * proxy ejects it (`balancer.eject(id, 'closed-early')`) by the outlier rules (ejection time,
 * multiplier, cap), and it returns when its time is up or an active check passes.
 *
 * The cost on the hot path is one listener call and one clock read per chunk received.
 */
import type { Socket } from 'node:net';
import type { Balancer, Logger } from '@ballast/core';
import { buildConnector } from 'undici';

/** A close within this long of the upstream's last bytes is not an idle timeout. */
export const EARLY_CLOSE_MS = 1_000;
/** Early closes further apart than this do not count as in a row. */
export const WINDOW_MS = 10_000;

const perf = performance;

/** Counts one origin's early closes; calls `onOutlier` at the `limit`-th in a row. */
export class EarlyCloseCounter {
  private count = 0;
  private lastAt = -Infinity;

  constructor(
    private readonly limit: number,
    private readonly onOutlier: () => void,
  ) {}

  /** One connection of the origin closed; `early` says how. */
  closed(early: boolean, now: number): void {
    if (!early) {
      this.count = 0;
      return;
    }
    if (now - this.lastAt > WINDOW_MS) this.count = 0;
    this.lastAt = now;
    this.count += 1;
    if (this.count >= this.limit) {
      this.count = 0;
      this.onOutlier();
    }
  }
}

/**
 * Whether `error` is undici's verdict on a peer that ended a connection it expected to stay open
 * (raised only from the socket's 'end'; a `Connection: close` or a read-until-close response ends
 * without an error).
 */
function isUnexpectedEnd(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error as { code?: unknown }).code === 'UND_ERR_SOCKET' &&
    error.message === 'other side closed'
  );
}

/** Follows one connection: the time of the last bytes received, and how it closed. */
function watch(socket: Socket, counter: EarlyCloseCounter): void {
  let lastDataAt = perf.now();
  // Registered before undici's own listener, so the chunk is still buffered when it runs (at
  // the end of the stream 'readable' fires with nothing buffered). It never reads.
  const onReadable = (): void => {
    if (socket.readableLength > 0) lastDataAt = perf.now();
  };
  socket.on('readable', onReadable);
  // When undici lets go of the socket (an upgrade hands it over as a tunnel), so does the
  // watcher: a 'readable' listener that never reads keeps a stream out of flowing mode, and the
  // tunnel pipes the socket.
  const onRemoved = (event: string | symbol): void => {
    if (event !== 'readable' || socket.listenerCount('readable') !== 1) return;
    socket.off('removeListener', onRemoved);
    socket.off('readable', onReadable);
  };
  socket.on('removeListener', onRemoved);
  socket.once('close', () => {
    const now = perf.now();
    counter.closed(isUnexpectedEnd(socket.errored) && now - lastDataAt <= EARLY_CLOSE_MS, now);
  });
}

/** undici's connector with `connectTimeoutMs`, watching every connection it makes for `counter`. */
export function watchingConnector(
  connectTimeoutMs: number,
  counter: EarlyCloseCounter,
): buildConnector.connector {
  const connect = buildConnector({ timeout: connectTimeoutMs });
  return (options, callback) =>
    connect(options, (error, socket) => {
      if (socket) watch(socket as Socket, counter);
      (callback as (error: Error | null, socket: Socket | null) => void)(error, socket);
    });
}

/** Ejects the instances at `origin`, which closes connections early; says so if it stays in. */
export function ejectClosingEarly(balancer: Balancer, origin: string, logger: Logger): void {
  for (const instance of balancer.instances()) {
    if (new URL(instance.url).origin !== origin || balancer.eject(instance.id, 'closed-early')) continue;
    logger.warn(
      { service: balancer.service, instance: instance.id, reason: 'closed-early' },
      'ballast: instance closes connections early, not ejected (ejection cap or outlier ejection off)',
    );
  }
}
