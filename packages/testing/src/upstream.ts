import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';

/** What an upstream saw of one request. */
export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  /** Bytes of the body and their SHA-256, once the body has been read. */
  bodyBytes?: number;
  bodySha256?: string;
  /** True once the connection closed before the response was complete (the proxy gave up). */
  aborted: boolean;
}

/**
 * Decides what an upstream does with one request. Return `'default'` to send the JSON echo,
 * anything else means the handler took care of the response (or deliberately never answers).
 */
export type UpstreamBehaviour = (
  req: IncomingMessage,
  res: ServerResponse,
  received: ReceivedRequest,
) => 'default' | void | Promise<'default' | void>;

/**
 * Answers `ok` with a Vary and two cookies of its own: for tests that the `Vary` and `Set-Cookie`
 * a middleware set before the proxy are added to, not replaced.
 */
export const answersWithVaryAndCookies: UpstreamBehaviour = (req, res) => {
  req.resume();
  res
    .writeHead(200, { vary: 'Accept-Encoding, origin', 'set-cookie': ['session=s1', 'theme=dark'] })
    .end('ok');
};

/** The JSON body every upstream answers with by default. */
export interface EchoBody {
  readonly name: string;
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly bodyBytes: number;
  readonly bodySha256: string;
  /** The body as text, for bodies up to 4 KiB. */
  readonly bodyText?: string;
}

export interface UpstreamOptions {
  /** Delay before every default answer, ms. Default 0. */
  readonly delayMs?: number;
  /** Per-request behaviour; default: the JSON echo. */
  readonly behaviour?: UpstreamBehaviour;
}

/** A real HTTP server on 127.0.0.1 with an ephemeral port, answering as a named upstream. */
export interface Upstream {
  readonly name: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly server: http.Server;
  /** Every request received, health checks included, in arrival order. */
  readonly received: ReceivedRequest[];
  /** Requests received, not counting health checks (`/health`). */
  count(): number;
  /** Answer of `GET /health`: 200 while healthy, 503 otherwise. Default healthy. */
  healthy: boolean;
  behaviour: UpstreamBehaviour | undefined;
  delayMs: number;
  /** Requests received on `/health`. */
  healthChecks(): number;
  /** Closes the listener and destroys every open connection at once, like a crashed process. */
  kill(): Promise<void>;
  /** Same as `kill()`. */
  close(): Promise<void>;
}

export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** Listens on 127.0.0.1, port 0, and returns the base URL. */
export async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes a server and every connection it has, idle or not. Resolves once it is closed. */
export async function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) {
    server.closeAllConnections();
    return;
  }
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** Reads a whole stream into a Buffer. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * Starts a named upstream: JSON echo of method, URL, headers and body hash; `GET /health` for
 * active checks; a WebSocket echo (`<name>:<message>`) on upgrade.
 */
export async function startUpstream(name: string, options: UpstreamOptions = {}): Promise<Upstream> {
  const received: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`${name}:${String(data)}`)));

  const server = http.createServer((req, res) => {
    const seen: ReceivedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      aborted: false,
    };
    received.push(seen);
    res.on('close', () => {
      if (!res.writableFinished) seen.aborted = true;
    });
    if (req.url === '/health') {
      req.resume();
      res
        .writeHead(upstream.healthy ? 200 : 503, { 'content-type': 'text/plain' })
        .end(upstream.healthy ? 'ok' : 'down');
      return;
    }
    void respond(req, res, seen).catch(() => res.destroy());
  });
  server.on('upgrade', (req, socket, head) => {
    sockets.add(socket as Socket);
    socket.on('close', () => sockets.delete(socket as Socket));
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, aborted: false });
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  async function respond(req: IncomingMessage, res: ServerResponse, seen: ReceivedRequest) {
    const custom = upstream.behaviour ? await upstream.behaviour(req, res, seen) : 'default';
    if (custom !== 'default') return;
    const body = await readAll(req);
    seen.bodyBytes = body.length;
    seen.bodySha256 = sha256(body);
    // Unref'd: a delayed answer to a client that left must not keep the test process alive.
    if (upstream.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, upstream.delayMs).unref());
    if (res.destroyed) return;
    const echo: EchoBody = {
      name,
      method: seen.method,
      url: seen.url,
      headers: req.headers,
      bodyBytes: body.length,
      bodySha256: seen.bodySha256,
      bodyText: body.length <= 4096 ? body.toString('utf8') : undefined,
    };
    res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name }).end(JSON.stringify(echo));
  }

  const url = await listen(server);
  let closing: Promise<void> | undefined;
  const upstream: Upstream = {
    name,
    url,
    server,
    received,
    healthy: true,
    behaviour: options.behaviour,
    delayMs: options.delayMs ?? 0,
    count: () => received.filter((r) => r.url !== '/health').length,
    healthChecks: () => received.filter((r) => r.url === '/health').length,
    kill() {
      closing ??= (async () => {
        for (const socket of sockets) socket.destroy();
        for (const ws of wss.clients) ws.terminate();
        await closeServer(server);
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      })();
      return closing;
    },
    close: () => upstream.kill(),
  };
  return upstream;
}

/** Starts several upstreams at once (named a, b, c... unless names are given). */
export function startUpstreams(
  countOrNames: number | readonly string[],
  options?: UpstreamOptions,
): Promise<Upstream[]> {
  const names =
    typeof countOrNames === 'number'
      ? Array.from({ length: countOrNames }, (_, i) => String.fromCharCode(97 + i))
      : countOrNames;
  return Promise.all(names.map((name) => startUpstream(name, options)));
}
