import net from 'node:net';

/** What the connections saw in the measured window (and before it). */
export interface LoadStats {
  /** Connections that got at least one response. */
  served: number;
  /** Responses in the measured window, by status. */
  readonly statuses: Record<string, number>;
  /** Time to response per request in the measured window, ms. */
  readonly latencies: number[];
  /** Socket errors and connections the gateway closed, at any time. */
  errors: number;
  closedByServer: number;
  readonly errorMessages: Set<string>;
}

/**
 * `count` keep-alive connections to `host:port`, each sending one GET after another on its own
 * socket (HTTP/1.1, no pipelining), through a minimal response reader: status line and
 * Content-Length, which every response of the gateway carries. All connections are open (and
 * accepted) before the first request: on this 2-core machine a gateway busy serving accepted new
 * connections at about 10 per second, so connecting under load measured the accept queue, not the proxy.
 */
export function openConnections(port: number, count: number, path: string) {
  const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  const stats: LoadStats = {
    served: 0,
    statuses: {},
    latencies: [],
    errors: 0,
    closedByServer: 0,
    errorMessages: new Set(),
  };
  const sockets: net.Socket[] = [];
  const sends = new Map<net.Socket, () => void>();
  let measuring = false;
  let stopping = false;
  let inFlight = 0;

  function open(): void {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    let buffer: Buffer | undefined;
    let sentAt = 0;
    let servedOnce = false;
    const send = () => {
      if (stopping) return;
      inFlight += 1;
      sentAt = performance.now();
      socket.write(request);
    };
    socket.setNoDelay(true);
    sends.set(socket, send);
    socket.on('data', (chunk: Buffer) => {
      let data: Buffer = buffer === undefined ? chunk : Buffer.concat([buffer, chunk]);
      buffer = data;
      for (;;) {
        const end: number = data.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head: string = data.toString('latin1', 0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        const total = end + 4 + length;
        if (data.length < total) return;
        buffer = data.length === total ? undefined : data.subarray(total);
        inFlight -= 1;
        if (!servedOnce) {
          servedOnce = true;
          stats.served += 1;
        }
        if (measuring) {
          const status = head.slice(9, 12);
          stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
          stats.latencies.push(performance.now() - sentAt);
        }
        send();
        if (buffer === undefined) return;
        data = buffer;
      }
    });
    socket.on('error', (error) => {
      stats.errors += 1;
      stats.errorMessages.add(error.message);
    });
    socket.on('close', () => {
      if (!stopping) stats.closedByServer += 1;
    });
  }

  return {
    stats,
    /**
     * Opens every connection, `batch` at a time, without sending anything yet: a gateway busy
     * serving accepts new connections slowly, so they are all made while it is idle. Resolves
     * once `accepted()` (the gateway's own count) reaches `count`, or after `timeoutMs`.
     */
    async open(accepted: () => Promise<number>, batch = 500, timeoutMs = 60_000): Promise<void> {
      for (let opened = 0; opened < count;) {
        const next = Math.min(count, opened + batch);
        for (; opened < next; opened++) open();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const deadline = Date.now() + timeoutMs;
      while ((await accepted()) < count && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
    },
    /** Every connection sends its first request, and one after each response from then on. */
    go(): void {
      for (const socket of sockets) if (!socket.connecting && !socket.destroyed) sends.get(socket)?.();
    },
    startMeasuring(): void {
      measuring = true;
    },
    stopMeasuring(): void {
      measuring = false;
    },
    /** Stops sending, waits (up to `waitMs`) for the answers in flight, closes every connection. */
    async close(waitMs = 30_000): Promise<number> {
      stopping = true;
      const deadline = Date.now() + waitMs;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      const unanswered = inFlight;
      for (const socket of sockets) socket.destroy();
      return unanswered;
    },
  };
}
